"""The database check passes on the module and fails on every data-loss or
credential-leak shape (broken copies of the module), so it cannot pass
vacuously."""
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from check_database import DB_ADDRESS, VOLUME_ID, Checker, check, heredocs, render_template

MODULE = Path(__file__).resolve().parent.parent / "modules" / "signet"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "single-region"


def broken_module(*edits, append=None):
    """A copy of the module (and of the example, in a sibling directory) with
    edits = (file, old, new) applied; `append` = (file, text) adds text."""
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(MODULE, tmp / "module")
    shutil.copytree(EXAMPLE, tmp / "example")
    for name, old, new in edits:
        path = tmp / name
        text = path.read_text()
        assert old in text, f"{name}: {old!r} not found"
        path.write_text(text.replace(old, new, 1))
    if append:
        path = tmp / append[0]
        path.write_text(path.read_text() + append[1])
    return tmp


def problems_of(*edits, append=None):
    tmp = broken_module(*edits, append=append)
    try:
        return check(tmp / "module", tmp / "example")
    finally:
        shutil.rmtree(tmp)


class TheModule(unittest.TestCase):
    def test_the_module_passes(self):
        self.assertEqual(check(MODULE, EXAMPLE), [])


class Postgres(unittest.TestCase):
    def assertRejected(self, problems, *words):
        self.assertTrue(any(all(w in p for w in words) for p in problems), f"expected a problem with {words}, got {problems}")

    def test_sslmode_below_verify_full_fails(self):
        problems = problems_of(("module/database.tf", "?sslmode=verify-full&", "?sslmode=require&"))
        self.assertRejected(problems, "sslmode=verify-full")

    def test_no_ca_file_fails(self):
        problems = problems_of(("module/database.tf", "&sslrootcert=${local.rds_ca_file}", ""))
        self.assertRejected(problems, "sslrootcert")

    def test_a_ca_bundle_elsewhere_than_sslrootcert_fails(self):
        problems = problems_of(("module/compute.tf", "rds_ca_file        = local.rds_ca_file", 'rds_ca_file        = "/etc/signet/other.pem"'))
        self.assertRejected(problems, "CA bundle", "sslrootcert")

    def test_plain_postgres_url_without_tls_fails(self):
        problems = problems_of(("module/database.tf", "/signet?sslmode=verify-full&sslrootcert=${local.rds_ca_file}", "/signet"))
        self.assertRejected(problems, "sslmode=verify-full")

    def test_rds_accepting_plain_connections_fails(self):
        problems = problems_of(("module/rds.tf", '''    name  = "rds.force_ssl"
    value = "1"''', '''    name  = "rds.force_ssl"
    value = "0"'''))
        self.assertRejected(problems, "rds.force_ssl")

    def test_host_without_the_generated_environment_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "EnvironmentFile=-/run/signet-database/env\n", ""))
        self.assertRejected(problems, "EnvironmentFile", "host's environment")

    def test_host_without_the_database_script_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "ExecStartPre=+/usr/local/sbin/signet-database-env /run/signet-database/env\n", ""))
        self.assertRejected(problems, "without its database URL")

    def test_url_written_to_disk_fails(self):
        problems = problems_of(
            ("module/user_data.sh.tftpl", "EnvironmentFile=-/run/signet-database/env", "EnvironmentFile=-/etc/signet/database.env"),
            ("module/user_data.sh.tftpl", "signet-database-env /run/signet-database/env\n", "signet-database-env /etc/signet/database.env\n"),
        )
        self.assertRejected(problems, "/etc/signet/database.env", "/run/")

    def test_credentials_not_from_the_secret_fail(self):
        problems = problems_of(("module/user_data.sh.tftpl", 'enc(secret["password"])', 'enc("postgres")'))
        self.assertRejected(problems, "RDS-managed secret")

    def test_unencoded_password_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", 'enc = lambda v: urllib.parse.quote(v, safe="")', "enc = lambda v: v"))
        self.assertRejected(problems, "percent-encoded")

    def test_instance_role_without_the_secret_fails(self):
        problems = problems_of(("module/iam.tf", ", aws_db_instance.signet[*].master_user_secret[0].secret_arn)", ", [])"))
        self.assertRejected(problems, "master user secret")


class NoPlaintextPassword(unittest.TestCase):
    def assertRejected(self, problems, *words):
        self.assertTrue(any(all(w in p for w in words) for p in problems), f"expected a problem with {words}, got {problems}")

    def test_a_terraform_password_fails(self):
        problems = problems_of(("module/rds.tf", "manage_master_user_password         = true", 'password                            = "correct-horse-battery-staple"'))
        self.assertRejected(problems, "`password`")
        self.assertRejected(problems, "manage_master_user_password")

    def test_a_password_in_the_user_data_fails(self):
        problems = problems_of(("module/compute.tf", "    data_volume_id     = local.data_volume_id\n", "    data_volume_id     = local.data_volume_id\n    db_password        = one(aws_db_instance.signet[*].password)\n"))
        self.assertRejected(problems, "db_password", "user data")

    def test_a_random_password_in_the_user_data_fails(self):
        problems = problems_of(("module/compute.tf", "    data_volume_id     = local.data_volume_id\n", '    data_volume_id     = local.data_volume_id\n    db_secret          = random_password.signet["INTERNAL_API_KEY"].result\n'))
        self.assertRejected(problems, "db_secret", "user data")

    def test_a_secret_version_data_source_fails(self):
        problems = problems_of(append=("module/rds.tf", '''
data "aws_secretsmanager_secret_version" "db" {
  count     = var.enable_rds ? 1 : 0
  secret_id = aws_db_instance.signet[0].master_user_secret[0].secret_arn
}
'''))
        self.assertRejected(problems, "aws_secretsmanager_secret_version")

    def test_an_output_with_the_password_fails(self):
        problems = problems_of(append=("module/outputs.tf", '''
output "database_password" {
  value     = jsondecode(data.aws_secretsmanager_secret_version.db[0].secret_string)["password"]
  sensitive = true
}
'''))
        self.assertRejected(problems, "database_password")

    def test_an_example_output_with_the_user_data_fails(self):
        problems = problems_of(append=("example/outputs.tf", '''
output "user_data" {
  value = module.signet.user_data
}
'''))
        self.assertRejected(problems, "example", "user_data")

    def test_credentials_in_the_url_fail(self):
        problems = problems_of(("module/database.tf", '"postgres://__CREDENTIALS__@', '"postgres://signet:${random_password.signet["INTERNAL_API_KEY"].result}@'))
        self.assertRejected(problems, "__CREDENTIALS__")

    def test_tracing_the_user_data_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "set -euo pipefail\numask 077", "set -euxo pipefail\numask 077"))
        self.assertRejected(problems, "set -x")


class SqliteSeveralHosts(unittest.TestCase):
    def assertRejected(self, problems, *words):
        self.assertTrue(any(all(w in p for w in words) for p in problems), f"expected a problem with {words}, got {problems}")

    def test_no_precondition_fails(self):
        problems = problems_of(("module/compute.tf", "condition     = var.enable_rds || var.desired_capacity == 1", "condition     = true"))
        self.assertRejected(problems, "not refused")

    def test_a_weakened_precondition_fails(self):
        problems = problems_of(("module/compute.tf", "var.enable_rds || var.desired_capacity == 1", "var.enable_rds || var.desired_capacity >= 1"))
        self.assertRejected(problems, "SQLite with 2 instances is not refused")

    def test_a_precondition_that_refuses_rds_replicas_fails(self):
        problems = problems_of(("module/compute.tf", "var.enable_rds || var.desired_capacity == 1", "var.desired_capacity == 1"))
        self.assertRejected(problems, "refuses enable_rds = true with 2")

    def test_a_refusal_that_does_not_say_why_fails(self):
        problems = problems_of(("module/compute.tf", 'error_message = "SQLite cannot be shared', 'error_message = "Invalid capacity. SQL cannot be shared'))
        self.assertRejected(problems, "does not say why")

    def test_room_for_a_second_sqlite_host_fails(self):
        problems = problems_of(("module/compute.tf", "var.enable_rds ? var.desired_capacity + 1 : 1", "var.desired_capacity + 1"))
        self.assertRejected(problems, "max_size is 2")


class SqlitePersistence(unittest.TestCase):
    def assertRejected(self, problems, *words):
        self.assertTrue(any(all(w in p for w in words) for p in problems), f"expected a problem with {words}, got {problems}")

    def test_database_on_the_root_volume_fails(self):
        problems = problems_of(("module/database.tf", 'sqlite_url = "sqlite://${local.data_dir}/signet.db"', 'sqlite_url = "sqlite:///opt/signet/signet.db"'))
        self.assertRejected(problems, "root volume")

    def test_no_separate_volume_fails(self):
        problems = problems_of(("module/database.tf", 'resource "aws_ebs_volume" "data" {', 'resource "aws_efs_file_system" "data" {'))
        self.assertRejected(problems, "no aws_ebs_volume")

    def test_a_launch_template_data_volume_fails(self):
        problems = problems_of(("module/compute.tf", '''  tag_specifications {
    resource_type = "instance"''', '''  block_device_mappings {
    device_name = "/dev/sdf"
    ebs {
      volume_size           = 20
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"'''))
        self.assertRejected(problems, "/dev/sdf", "delete_on_termination = True")

    def test_a_destroyable_volume_fails(self):
        problems = problems_of(("module/database.tf", "prevent_destroy = true", "prevent_destroy = false"))
        self.assertRejected(problems, "prevent_destroy")

    def test_an_unencrypted_volume_fails(self):
        problems = problems_of(("module/database.tf", "  encrypted         = true\n", "  encrypted         = false\n"))
        self.assertRejected(problems, "not encrypted")

    def test_a_group_spanning_other_azs_fails(self):
        problems = problems_of(("module/compute.tf", "var.enable_rds ? var.private_subnet_ids : data.aws_subnet.data[*].id", "var.private_subnet_ids"))
        self.assertRejected(problems, "not pinned to the data volume's AZ")

    def test_a_volume_in_another_az_fails(self):
        problems = problems_of(("module/database.tf", "availability_zone = one(data.aws_subnet.data[*].availability_zone)", 'availability_zone = "eu-west-1c"'))
        self.assertRejected(problems, "availability_zone")

    def test_no_attach_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", '    aws ec2 attach-volume --region "${region}"', '    echo would attach --region "${region}"'))
        self.assertRejected(problems, "never attaches")

    def test_no_mount_fails(self):
        problems = problems_of(
            ("module/user_data.sh.tftpl", "  mountpoint -q ${data_dir} || mount ${data_dir}\n", ""),
            ("module/user_data.sh.tftpl", 'echo "UUID=$data_uuid ${data_dir} xfs defaults,noatime,nofail 0 2" >> /etc/fstab', "true"),
        )
        self.assertRejected(problems, "never mounts")

    def test_efs_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "${data_dir} xfs defaults,noatime,nofail 0 2", "${data_dir} nfs4 nfsvers=4.1 0 0"))
        self.assertRejected(problems, "NFS/EFS")

    def test_host_starting_without_the_volume_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "AssertPathIsMountPoint=${data_dir}\n", ""))
        self.assertRejected(problems, "AssertPathIsMountPoint")

    def test_mounting_after_the_host_started_fails(self):
        problems = problems_of(
            ("module/user_data.sh.tftpl", "  mountpoint -q ${data_dir} || mount ${data_dir}\n", ""),
            ("module/user_data.sh.tftpl", "systemctl enable --now amazon-cloudwatch-agent signet-kms-proxy signet-enclave signet-host\n",
             "systemctl enable --now amazon-cloudwatch-agent signet-kms-proxy signet-enclave signet-host\nmount ${data_dir}\n"),
        )
        self.assertRejected(problems, "after signet-host is started")

    def test_delete_on_termination_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "  data_device=/dev/disk", '''  aws ec2 modify-instance-attribute --instance-id "$instance_id" --block-device-mappings '[{"DeviceName":"/dev/sdf","Ebs":{"DeleteOnTermination":true}}]'
  data_device=/dev/disk'''))
        self.assertRejected(problems, "DeleteOnTermination")

    def test_host_that_cannot_write_the_data_dir_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "StateDirectory=signet\n", ""))
        self.assertRejected(problems, "cannot write")


class Rendering(unittest.TestCase):
    def test_a_template_variable_not_passed_fails(self):
        problems = problems_of(("module/compute.tf", "    data_dir           = local.data_dir\n", ""))
        self.assertTrue(any("${data_dir}" in p and "does not pass it" in p for p in problems), problems)

    def test_invalid_bash_fails(self):
        problems = problems_of(("module/user_data.sh.tftpl", "fi\n\n# 5.", "\n# 5."))
        self.assertTrue(any("not valid bash" in p for p in problems), problems)

    @unittest.skipUnless(shutil.which("terraform"), "terraform is not installed: the renderer is only checked against itself")
    def test_the_renderer_agrees_with_terraform(self):
        """Renders the user data with Terraform's own templatefile() (no
        provider needed) and with the checker, for both database modes."""
        checker = Checker(MODULE)
        for rds in (True, False):
            env = checker.env(rds, refs=checker.known_refs())
            path, values = checker.user_data_values(env)
            ours = render_template(path.read_text(), values)
            with tempfile.TemporaryDirectory() as tmp:
                hcl_values = ", ".join(f"{k} = {hcl_literal(v)}" for k, v in values.items())
                Path(tmp, "main.tf").write_text(f'output "x" {{\n  value = templatefile("{path}", {{ {hcl_values} }})\n}}\n')
                env_vars = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull)
                run = lambda *a: subprocess.run(["terraform", *a], cwd=tmp, env=env_vars, capture_output=True, text=True, timeout=120)
                applied = run("apply", "-auto-approve", "-input=false", "-no-color")
                self.assertEqual(applied.returncode, 0, applied.stderr)
                theirs = run("output", "-raw", "x")
                self.assertEqual(theirs.returncode, 0, theirs.stderr)
            self.assertEqual(ours, theirs.stdout, f"enable_rds = {rds}")
            self.assertIn(DB_ADDRESS if rds else VOLUME_ID, ours)
            self.assertIn("/etc/systemd/system/signet-host.service", heredocs(ours))


def hcl_literal(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${").replace("%{", "%%{").replace("\n", "\\n")
    return f'"{s}"'


if __name__ == "__main__":
    unittest.main()
