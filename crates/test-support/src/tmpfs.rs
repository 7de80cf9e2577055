//! A small tmpfs for tests of a full or read-only disk.
//!
//! Mounting needs root (or `CAP_SYS_ADMIN`). Where it is refused,
//! [`SmallFs::mount`] prints why and returns `None`, and the test returns
//! early, saying so; set `SOCKSCOPE_REQUIRE_TMPFS=1` to make that a
//! failure instead (CI runs as root).

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A tmpfs mounted on a temporary directory; unmounted on drop.
#[derive(Debug)]
pub struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (e.g. `2m`), or says why not and returns
    /// `None` (see the module docs).
    pub fn mount(size: &str, test: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(SmallFs { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let msg = format!("SKIPPED {test}: it needs a tmpfs and mount was refused ({why})");
        assert!(
            std::env::var_os("SOCKSCOPE_REQUIRE_TMPFS").is_none(),
            "{msg}, and SOCKSCOPE_REQUIRE_TMPFS is set"
        );
        eprintln!("{msg}");
        None
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system: writes a filler file until the disk says it
    /// is full. Returns the bytes written.
    pub fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(self.path().join("filler")).expect("the filler file");
        let chunk = vec![0u8; 4096];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let _ = f.flush();
        written
    }

    /// Frees what [`SmallFs::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("removing the filler");
    }

    /// Remounts the file system read-only.
    pub fn remount_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting {} read-only", self.path().display());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a process of the test that still holds a file does not
        // keep the mount.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
