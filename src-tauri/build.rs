use std::path::Path;

fn main() {
    // The config lives at the repository root (the design card's layout).
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=../ui/dist");
    // tauri-build refuses a missing frontendDist; a workspace build without
    // npm (another crate's `cargo test --workspace`) still compiles, and
    // the window says how to build the UI.
    let dist = Path::new("../ui/dist");
    if !dist.join("index.html").exists() {
        std::fs::create_dir_all(dist).expect("creating ui/dist");
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>sockscope</title>\
             <p>The UI is not built: run <code>npm ci && npm run build</code> in ui/ \
             (scripts/run.sh does), then rebuild the app.</p>",
        )
        .expect("writing the placeholder UI");
    }
    println!("cargo:rerun-if-changed=capabilities");
    let manifest = tauri_build::AppManifest::new().commands(sockscope_app_commands::ALL);
    if let Err(e) = tauri_build::try_build(
        tauri_build::Attributes::new()
            .config_path("../tauri.conf.json")
            .app_manifest(manifest),
    ) {
        panic!("tauri-build: {e:#}");
    }
}

mod sockscope_app_commands {
    include!("src/command_names.rs");
}
