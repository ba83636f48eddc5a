resource "aws_security_group" "instances" {
  name        = "${var.name}-instances"
  description = "Signet hosts: the API port from the NLB's clients only; egress to HTTPS (KMS, Secrets Manager, S3, SSM, logs) and PostgreSQL"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description = "Signet API (plain HTTP inside the VPC, TLS terminates at the NLB)"
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    cidr_blocks = var.allowed_client_cidrs
  }

  egress {
    description = "HTTPS to AWS APIs (through VPC endpoints or NAT)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "PostgreSQL inside the VPC"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }
}

data "aws_vpc" "this" {
  id = var.vpc_id
}
