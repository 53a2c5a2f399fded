//! Loading CustomResourceDefinitions from YAML files (multi-document) or directories.

use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;

/// Every CRD in a `.yaml`/`.yml`/`.json` file, or in such files of a directory (not recursive).
/// Documents of other kinds are skipped.
pub fn load_crds(path: impl AsRef<Path>) -> anyhow::Result<Vec<CustomResourceDefinition>> {
    let path = path.as_ref();
    let mut files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = vec![];
    for f in files.drain(..) {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value = serde_json::Value::deserialize(doc)
                .with_context(|| format!("parsing {}", f.display()))?;
            if value["kind"] == "CustomResourceDefinition" {
                let crd: CustomResourceDefinition = serde_json::from_value(value)
                    .with_context(|| format!("a CRD in {}", f.display()))?;
                out.push(crd);
            }
        }
    }
    Ok(out)
}

/// The repository's top-level `crds/` directory.
pub fn repo_crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds")
}
