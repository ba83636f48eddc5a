# Optional PostgreSQL shared by several host replicas. The hosts connect with
# sslmode=verify-full against the RDS CA bundle (rds.force_ssl refuses plain
# connections) as the RDS-managed master user, whose secret they read at each
# start (database.tf, user_data.sh.tftpl).

resource "aws_db_subnet_group" "signet" {
  count      = var.enable_rds ? 1 : 0
  name       = "${var.name}-db"
  subnet_ids = var.private_subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "db" {
  count       = var.enable_rds ? 1 : 0
  name        = "${var.name}-db"
  description = "PostgreSQL for Signet hosts only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description     = "PostgreSQL from the Signet hosts"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.instances.id]
  }
}

resource "aws_db_parameter_group" "signet" {
  count  = var.enable_rds ? 1 : 0
  name   = "${var.name}-postgres16"
  family = "postgres16"
  tags   = var.tags

  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

resource "aws_db_instance" "signet" {
  #checkov:skip=CKV_AWS_118:Enhanced monitoring needs an extra IAM role; Performance Insights (enabled, encrypted) covers database load.
  count                               = var.enable_rds ? 1 : 0
  identifier                          = "${var.name}-db"
  engine                              = "postgres"
  engine_version                      = "16"
  instance_class                      = "db.t4g.medium"
  allocated_storage                   = 50
  db_name                             = "signet"
  username                            = "signet"
  manage_master_user_password         = true # the password lives in Secrets Manager only (rotated by RDS)
  ca_cert_identifier                  = "rds-ca-rsa2048-g1"
  master_user_secret_kms_key_id       = aws_kms_key.ops.arn
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.ops.arn
  multi_az                            = true
  db_subnet_group_name                = aws_db_subnet_group.signet[0].name
  parameter_group_name                = aws_db_parameter_group.signet[0].name
  vpc_security_group_ids              = [aws_security_group.db[0].id]
  publicly_accessible                 = false
  deletion_protection                 = true
  backup_retention_period             = var.backup_retention_days
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.ops.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-db-final"
  tags                                = var.tags

  lifecycle {
    # The wallets' sealed keys and the audit log live here: destroying it is
    # never a side effect of a plan (deletion_protection stops the API call
    # too). terraform/README.md, "Deleting a deployment".
    prevent_destroy = true
  }
}
