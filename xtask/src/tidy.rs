//! Tidy checks, run as tests by `cargo test`: conventions of ARCHITECTURE.md that no compiler
//! checks.

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn crates() -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(root().join("crates"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("Cargo.toml").exists())
            .collect();
        dirs.push(root().join("xtask"));
        dirs.sort();
        dirs
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_crate_folder_is_named_after_its_package() {
        for dir in crates() {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let folder = dir.file_name().unwrap().to_str().unwrap();
            assert!(manifest.contains(&format!("name = \"{folder}\"")), "{folder}: package name differs from folder");
        }
    }

    #[test]
    fn every_crate_root_starts_with_a_doc_paragraph() {
        for dir in crates() {
            for root_file in ["src/lib.rs", "src/main.rs"] {
                let path = dir.join(root_file);
                if let Ok(text) = fs::read_to_string(&path) {
                    assert!(text.starts_with("//!"), "{} does not start with a //! paragraph", path.display());
                }
            }
        }
    }

    #[test]
    fn every_crate_uses_the_workspace_lints() {
        for dir in crates() {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(manifest.contains("[lints]\nworkspace = true"), "{}: no workspace lints", dir.display());
        }
    }

    #[test]
    fn no_source_leaves_work_unfinished_or_skips_a_test() {
        let markers = [concat!("todo", "!("), concat!("unimplemented", "!("), concat!("#[", "ignore")];
        let mut files = Vec::new();
        for dir in crates() {
            rust_files(&dir, &mut files);
        }
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for marker in markers {
                assert!(!text.contains(marker), "{} contains {marker}", file.display());
            }
        }
    }
}
