//! Embeds the console's one JavaScript library, Leaflet, pinned in `console/package.json`
//! and `console/package-lock.json` (npm), in the binary: the browser fetches nothing from
//! the internet. On a fresh clone the package is installed here with `npm ci` (build time,
//! from the npm registry); the page is served from the binary at run time.

use std::path::Path;
use std::process::Command;

fn main() {
    let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    let dist = console.join("node_modules/leaflet/dist");
    println!("cargo:rerun-if-changed=console/package-lock.json");
    println!("cargo:rerun-if-changed=console/node_modules/leaflet/package.json");
    if !dist.join("leaflet.js").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&console)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!(
                "`npm ci` in {} failed ({s}): the console embeds Leaflet from npm; run it by hand to see why",
                console.display()
            ),
            Err(e) => panic!(
                "cannot run npm ({e}): the console embeds Leaflet, pinned from npm in console/package-lock.json; install Node.js and npm (Debian: apt-get install npm) and build again"
            ),
        }
    }
    println!("cargo:rustc-env=VIGIE_LEAFLET_DIST={}", dist.display());
}
