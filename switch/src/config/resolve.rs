//! The second stage: what the validated sections name outside the file. The
//! rules path must exist, spec files are read, keys come from the environment
//! or are unwrapped under the KEK, and the TLS certificate files are opened.
//! What this environment cannot supply for the journal's PAN key is a warning,
//! not an error: `switch settle` and `switch cutover` do not need the key, and
//! `switch run` refuses to start without it.

use std::path::Path;

use codecs::Spec;

use super::error::{ConfigError, ConfigWarning, Problems};
use super::journal::{JournalConfig, JournalDraft, MIN_PAN_KEY_LEN};
use super::link::{LinkConfig, LinkDraft};
use super::secret::SecretKey;
use crate::security::settings::{link_keys, KeyLoader};
use crate::security::SecurityConfig;
use crate::tls::TlsConfig;

/// Resolves one file's sections; reads the KEK at most once.
pub(crate) struct Resolver<'f> {
    file: &'f str,
    keys: KeyLoader,
}

impl<'f> Resolver<'f> {
    /// A resolver reading keys with `keys`.
    pub(crate) fn new(file: &'f str, keys: KeyLoader) -> Resolver<'f> {
        Resolver { file, keys }
    }

    /// The configuration file's name (for problems found across sections).
    pub(crate) fn file(&self) -> &'f str {
        self.file
    }

    /// The security configuration the links' keys go into.
    pub(crate) fn security_config(&self) -> SecurityConfig {
        self.keys.config()
    }

    /// The rules file or folder must exist.
    pub(crate) fn rules(&self, rules: &Path) -> Option<ConfigError> {
        (!rules.exists()).then(|| {
            Problems::new(self.file, "switch")
                .error(format!("rules {} does not exist", rules.display()))
        })
    }

    /// A link's spec and keys; its TLS identities go into `tls`.
    pub(crate) fn link(
        &mut self,
        draft: LinkDraft<'_>,
        security: &mut SecurityConfig,
        tls: Option<&mut TlsConfig>,
    ) -> Result<LinkConfig, Vec<ConfigError>> {
        let mut p = Problems::new(self.file, format!("link {}", draft.name));
        let spec = match Spec::by_name_or_path(&draft.spec) {
            Ok(spec) => spec,
            Err(e) => {
                p.push(format!("spec: {e}"));
                return Err(p.into_errors());
            }
        };
        match link_keys(&draft.raw_security(), draft.security, &spec, &mut self.keys) {
            Ok(Some(keys)) => {
                security.keys.insert(draft.name.clone(), keys);
            }
            Ok(None) => {}
            Err(e) => p.push(e.to_string()),
        }
        if let (Some(link_tls), Some(tls)) = (&draft.tls, tls) {
            tls.links.insert(draft.name.clone(), link_tls.clone());
        }
        p.finish(draft.finish(spec))
    }

    /// The journal's PAN key, if this environment has it (else a warning).
    pub(crate) fn journal(
        &mut self,
        draft: JournalDraft<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<JournalConfig, Vec<ConfigError>> {
        let mut p = Problems::new(self.file, "journal");
        let mut config = draft.config;
        match self.keys.key(draft.pan_key, "pan_key") {
            Ok(Some(k)) if k.len() >= MIN_PAN_KEY_LEN => {
                config.pan_key = Some(SecretKey::from(k));
            }
            Ok(Some(_)) => p.push(format!(
                "pan_key: the PAN key must be at least {MIN_PAN_KEY_LEN} bytes"
            )),
            Ok(None) => {}
            Err(e) => {
                warnings.push(p.warning(format!("{e}: `switch run` does not start without it")))
            }
        }
        p.finish(config)
    }

    /// Open the TLS files and build the rustls configurations.
    pub(crate) fn tls_material(&self, tls: &mut TlsConfig) -> Option<ConfigError> {
        tls.load_material()
            .err()
            .map(|e| Problems::new(self.file, "switch.tls").error(e.to_string()))
    }
}
