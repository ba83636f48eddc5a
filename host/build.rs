//! The console's assets are embedded with `include_dir!`, which cargo does not
//! track on stable: rebuild when anything under `console/` changes.

fn main() {
    println!("cargo:rerun-if-changed=console");
}
