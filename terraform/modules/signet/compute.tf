locals {
  # No secret goes into the user data: the instance reads them from Secrets
  # Manager at boot (and the database password at each start of the host).
  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    name               = var.name
    region             = data.aws_region.current.name
    eif_s3_uri         = var.eif_s3_uri
    enclave_memory_mib = var.enclave_memory_mib
    enclave_cpu_count  = var.enclave_cpu_count
    enclave_cid        = 16
    log_group          = aws_cloudwatch_log_group.signet.name
    secret_prefix      = "${var.name}/"
    attestation_policy = local.attestation_policy
    sealing_key_arn    = aws_kms_key.sealing.arn
    database_url       = local.database_url
    db_secret_arn      = local.database_secret_arn
    rds_ca_file        = local.rds_ca_file
    rds_ca_source      = local.rds_ca_source
    data_dir           = local.data_dir
    data_volume_id     = local.data_volume_id
    telegram_username  = var.telegram_bot_username
    telegram_webhook   = local.telegram_webhook ? var.telegram_webhook_url : ""
    host_settings      = local.host_settings_env
    audit_export_token = local.audit_export_token ? "yes" : ""
    host_stop_timeout  = local.host_stop_timeout_seconds
  })
}

resource "aws_launch_template" "signet" {
  name_prefix   = "${var.name}-"
  image_id      = var.ami_id
  instance_type = var.instance_type
  ebs_optimized = true
  user_data     = base64encode(local.user_data)

  enclave_options {
    enabled = true
  }

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  monitoring {
    enabled = true
  }

  network_interfaces {
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.instances.id]
  }

  # The root volume only: it dies with the instance and holds no data. The
  # SQLite database lives on the separate data volume (database.tf).
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 30
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = aws_kms_key.ops.arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-host" })
  }

  tags = var.tags
}

# With SQLite: one instance (max_size = 1, replaced by terminating first), in
# the AZ of the data volume (database.tf). With RDS: the replicas across AZs.
resource "aws_autoscaling_group" "signet" {
  name                      = "${var.name}-hosts"
  min_size                  = var.desired_capacity
  max_size                  = var.enable_rds ? var.desired_capacity + 1 : 1
  desired_capacity          = var.desired_capacity
  vpc_zone_identifier       = var.enable_rds ? var.private_subnet_ids : data.aws_subnet.data[*].id
  target_group_arns         = [aws_lb_target_group.api.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.signet.id
    version = aws_launch_template.signet.latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = var.enable_rds ? 50 : 0
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-host" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # The instances read their secrets and attach the data volume at boot.
  depends_on = [aws_iam_role_policy.instance]

  lifecycle {
    precondition {
      condition     = var.enable_rds || var.desired_capacity == 1
      error_message = "SQLite cannot be shared by several hosts: set enable_rds = true for more than one instance (desired_capacity > 1), or desired_capacity = 1."
    }
  }
}
