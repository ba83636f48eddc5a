# Where the hosts keep their database (SIGNET_DATABASE_URL).
#
# enable_rds = false (default): SQLite, ONE host. SQLite allows a single writer
# host, so the Auto Scaling group is pinned to max_size = 1 in the AZ of a
# separate, encrypted EBS volume that Terraform owns (prevent_destroy) and the
# instance attaches and mounts at /var/lib/signet before the host starts: the
# database outlives every instance replacement. More than one instance is
# refused at plan time (compute.tf). EFS is not an option for SQLite: its NFS
# locking is not what SQLite's locking relies on, and WAL mode needs shared
# memory that only works on one machine; a database on it can be corrupted.
#
# enable_rds = true: PostgreSQL (rds.tf), shared by the replicas, over TLS with
# sslmode=verify-full against the RDS CA bundle. The password is RDS-managed
# (manage_master_user_password): the instance reads it from Secrets Manager at
# each start of the host (signet-database-env in the user data) and replaces
# __CREDENTIALS__ below with the percent-encoded user:password. It never passes
# through Terraform, its state, the user data or an output.
#
# terraform/tests/check_database.py fails the build if either shape regresses.

locals {
  data_dir   = "/var/lib/signet"
  sqlite_url = "sqlite://${local.data_dir}/signet.db"

  rds_ca_file   = "/etc/signet/rds-ca-bundle.pem"
  rds_ca_source = coalesce(var.rds_ca_bundle_s3_uri, "https://truststore.pki.rds.amazonaws.com/${data.aws_region.current.name}/${data.aws_region.current.name}-bundle.pem")

  database_url        = var.enable_rds ? "postgres://__CREDENTIALS__@${one(aws_db_instance.signet[*].address)}:${one(aws_db_instance.signet[*].port)}/signet?sslmode=verify-full&sslrootcert=${local.rds_ca_file}" : local.sqlite_url
  database_secret_arn = var.enable_rds ? one(aws_db_instance.signet[*].master_user_secret[0].secret_arn) : ""
  data_volume_id      = var.enable_rds ? "" : one(aws_ebs_volume.data[*].id)
  data_volume_tag     = "signet:data-volume"
}

# The AZ of the first private subnet holds the volume and the one SQLite host.
data "aws_subnet" "data" {
  count = var.enable_rds ? 0 : 1
  id    = var.private_subnet_ids[0]
}

resource "aws_ebs_volume" "data" {
  count             = var.enable_rds ? 0 : 1
  availability_zone = one(data.aws_subnet.data[*].availability_zone)
  size              = var.data_volume_size_gib
  type              = "gp3"
  encrypted         = true
  kms_key_id        = aws_kms_key.ops.arn
  final_snapshot    = true
  tags              = merge(var.tags, { Name = "${var.name}-data", (local.data_volume_tag) = var.name })

  lifecycle {
    # The wallets' sealed keys and the audit log live here: destroying it is
    # never a side effect of a plan (switch to RDS: docs/RUNBOOK.md, section 6).
    prevent_destroy = true
  }
}

# Daily snapshots of the SQLite volume (crash-consistent: SQLite recovers from
# them as from a power cut).
data "aws_iam_policy_document" "assume_dlm" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["dlm.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "dlm" {
  count              = var.enable_rds ? 0 : 1
  name               = "${var.name}-data-snapshots"
  assume_role_policy = data.aws_iam_policy_document.assume_dlm.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "dlm" {
  count      = var.enable_rds ? 0 : 1
  role       = aws_iam_role.dlm[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"
}

resource "aws_dlm_lifecycle_policy" "data" {
  count              = var.enable_rds ? 0 : 1
  description        = "${var.name}: daily snapshots of the SQLite data volume"
  execution_role_arn = aws_iam_role.dlm[0].arn
  state              = "ENABLED"
  tags               = var.tags

  policy_details {
    resource_types = ["VOLUME"]
    target_tags    = { (local.data_volume_tag) = var.name }

    schedule {
      name      = "daily"
      copy_tags = true
      create_rule {
        interval      = 24
        interval_unit = "HOURS"
        times         = ["03:00"]
      }
      retain_rule {
        count = var.backup_retention_days # daily: that many days
      }
    }
  }
}
