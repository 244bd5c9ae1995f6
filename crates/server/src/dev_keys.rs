//! Development keys: with no engine key or encryption key configured (and not in production),
//! the service generates them once into the data directory (mode 0600) and reuses them, so data
//! survives restarts. The files' paths are logged; their contents never are.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// A secret read from, or newly written to, a file in the data directory.
#[derive(Debug)]
pub struct DevSecret {
    pub value: SecretString,
    pub path: PathBuf,
    pub created: bool,
}

/// Reads `dir/name`, or creates it with `generate()` (owner read/write only).
pub fn load_or_create(dir: &Path, name: &str, generate: impl FnOnce() -> SecretString) -> io::Result<DevSecret> {
    use secrecy::ExposeSecret;
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok(DevSecret { value: SecretString::from(text.trim().to_owned()), path, created: false });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    create_private_dir(dir)?;
    let value = generate();
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(value.expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(DevSecret { value, path, created: true })
}

/// Creates `dir` (owner only, on Unix) unless it exists; an existing directory keeps its mode.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_generated_key_is_written_owner_only_and_read_back_on_the_next_start() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let first = load_or_create(&dir, "engine-key", || SecretString::from("k1")).unwrap();
        assert!(first.created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&first.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(dir_mode & 0o777, 0o700, "the data directory is the owner's alone");
        }
        let second = load_or_create(&dir, "engine-key", || SecretString::from("k2")).unwrap();
        assert!(!second.created);
        assert_eq!(second.value.expose_secret(), "k1");
    }
}
