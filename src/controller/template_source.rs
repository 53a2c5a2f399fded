//! Fetching the template's bytes from the ConfigMap or Secret key that `spec.template` names.

use crate::core::template::digest;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};

use super::error::Result;
use crate::resources::{KeyRef, TemplateRef, TemplateSource};

/// The template's bytes and their digest, computed before parsing so that an import that is
/// already done can be recognised without reading a large file again.
pub struct TemplateBytes {
    pub bytes: Vec<u8>,
    /// `sha256:<lower-case hex>`: the same definition as `Template::digest`.
    pub digest: String,
}

/// Why the template cannot be fetched: the user must fix the spec or create the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceProblem {
    /// A kstatus-style reason, PascalCase.
    pub reason: &'static str,
    pub message: String,
}

/// Fetches the bytes, or says why they are not there. `Err` only for API failures.
pub async fn fetch(
    client: &Client,
    namespace: &str,
    source: &TemplateSource,
) -> Result<Result<TemplateBytes, SourceProblem>> {
    let reference = match source.resolve() {
        Ok(reference) => reference,
        Err(message) => {
            return Ok(Err(SourceProblem {
                reason: "InvalidTemplateRef",
                message: message.to_string(),
            }));
        }
    };
    let bytes = match &reference {
        TemplateRef::ConfigMap(key) => config_map_key(client, namespace, key).await?,
        TemplateRef::Secret(key) => secret_key(client, namespace, key).await?,
    };
    Ok(bytes.map(|bytes| TemplateBytes {
        digest: digest(&bytes),
        bytes,
    }))
}

async fn config_map_key(
    client: &Client,
    namespace: &str,
    key: &KeyRef,
) -> Result<Result<Vec<u8>, SourceProblem>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let Some(config_map) = api.get_opt(&key.name).await? else {
        return Ok(Err(not_found("ConfigMap", key)));
    };
    // `data` holds UTF-8 text; `binaryData` holds anything else (a Windows-1252 export).
    let text = config_map
        .data
        .and_then(|mut data| data.remove(&key.key))
        .map(String::into_bytes);
    let binary = || {
        config_map
            .binary_data
            .and_then(|mut data| data.remove(&key.key))
            .map(|bytes| bytes.0)
    };
    Ok(text
        .or_else(binary)
        .ok_or_else(|| key_missing("ConfigMap", key)))
}

async fn secret_key(
    client: &Client,
    namespace: &str,
    key: &KeyRef,
) -> Result<Result<Vec<u8>, SourceProblem>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) = api.get_opt(&key.name).await? else {
        return Ok(Err(not_found("Secret", key)));
    };
    let data = secret.data.and_then(|mut data| data.remove(&key.key));
    let string_data = || {
        secret
            .string_data
            .and_then(|mut data| data.remove(&key.key))
            .map(String::into_bytes)
    };
    Ok(data
        .map(|bytes| bytes.0)
        .or_else(string_data)
        .ok_or_else(|| key_missing("Secret", key)))
}

fn not_found(kind: &str, key: &KeyRef) -> SourceProblem {
    SourceProblem {
        reason: "TemplateSourceNotFound",
        message: format!("{kind} {:?} not found", key.name),
    }
}

fn key_missing(kind: &str, key: &KeyRef) -> SourceProblem {
    SourceProblem {
        reason: "TemplateKeyNotFound",
        message: format!("{kind} {:?} has no key {:?}", key.name, key.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_in_lower_case_hex() {
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
