//! Where the app keeps its files, and the OTLP settings file.

use std::path::{Path, PathBuf};

use crate::error::UiError;
use crate::transfer::OtlpSettings;

/// The app's config dir (`~/.config/sockscope` on Linux), or
/// `SOCKSCOPE_CONFIG_DIR` (tests point it at a temporary dir).
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SOCKSCOPE_CONFIG_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("sockscope")
}

/// The sockets file; its absence is what makes a first start a demo.
pub fn sockets_file(dir: &Path) -> PathBuf {
    dir.join("sockets.toml")
}

/// Where exports are written: `SOCKSCOPE_EXPORT_DIR`, else the XDG
/// download dir, else `~/sockscope-exports`.
pub fn export_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SOCKSCOPE_EXPORT_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_DOWNLOAD_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("sockscope-exports")))
        .unwrap_or_else(|| PathBuf::from("sockscope-exports"))
}

/// Reads the OTLP settings; a missing file means the defaults (off).
pub fn load_otlp(path: &Path) -> Result<OtlpSettings, UiError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| UiError::new("config", format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OtlpSettings::default()),
        Err(e) => Err(e.into()),
    }
}

/// Writes the OTLP settings.
pub fn save_otlp(path: &Path, s: &OtlpSettings) -> Result<(), UiError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text =
        serde_json::to_string_pretty(s).map_err(|e| UiError::new("config", e.to_string()))?;
    std::fs::write(path, text)?;
    Ok(())
}
