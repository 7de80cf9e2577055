//! Empty: this manifest exists only to fetch the AppImage runtime (see Cargo.toml).
