//! `signet-bench` against the real binaries: a short run of `sign`,
//! `bare-sign` and `intent-sign` exits 0 only when no request failed and
//! every sampled signature verified with k256, and it reports the
//! same-run comparisons (issue 29's yardstick).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn a_short_run_signs_checks_and_compares_with_the_bare_reference() {
    let bench = Path::new(env!("CARGO_BIN_EXE_signet-bench"));
    for sibling in ["signet-host", "signet-enclave"] {
        assert!(
            bench.with_file_name(sibling).exists(),
            "{sibling} is not built beside signet-bench: run the workspace tests (scripts/test.sh)"
        );
    }
    let out = Command::new(bench)
        .args(["--json", "--scenarios", "sign,bare-sign,intent-sign"])
        .args(["--duration", "1", "--connections", "4", "--wallets", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row = |name: &str| {
        lines
            .iter()
            .find(|v| v["scenario"] == name && v.get("ops_per_s").is_some())
            .unwrap_or_else(|| panic!("no {name} row in\n{stdout}"))
    };
    for name in ["sign", "bare-sign", "intent-sign"] {
        let r = row(name);
        assert!(r["ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["signatures_checked"].as_u64().unwrap() >= 4, "{r}");
        assert!(r["server_cpu_us_per_op"].as_f64().unwrap() > 0.0, "{r}");
    }
    for comparison in ["sign / bare-sign", "intent-sign / sign"] {
        let c = lines
            .iter()
            .find(|v| v["comparison"] == comparison)
            .unwrap_or_else(|| panic!("no {comparison} in\n{stdout}"));
        assert!(c["ops_ratio"].as_f64().unwrap() > 0.0, "{c}");
        assert!(c["per_cpu_ratio"].as_f64().unwrap() > 0.0, "{c}");
    }
}
