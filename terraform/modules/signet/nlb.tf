resource "aws_lb" "api" {
  #checkov:skip=CKV_AWS_91:NLB access logs need a bucket owned by the caller; every request is already in Signet's hash-chained audit log and CloudWatch.
  name                             = "${var.name}-api"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.private_subnet_ids
  enable_deletion_protection       = true
  enable_cross_zone_load_balancing = true
  tags                             = var.tags
}

resource "aws_lb_target_group" "api" {
  name                 = "${var.name}-api"
  port                 = 8080
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  deregistration_delay = var.lb_deregistration_delay_seconds
  # The hosts see the clients' addresses (ADMIN_ALLOWED_CIDRS and the
  # per-address limits depend on it).
  preserve_client_ip = "true"

  # The hosts drain at least as long (settings.tf, SIGNET_DRAIN_SECONDS).
  health_check {
    protocol            = "HTTP"
    path                = "/ready"
    port                = "traffic-port"
    healthy_threshold   = 2
    unhealthy_threshold = local.lb_unhealthy_threshold
    interval            = local.lb_health_check_interval_seconds
  }

  tags = var.tags
}

resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "TLS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.tls_certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  tags = var.tags
}
