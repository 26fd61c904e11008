//! The token API listeners: one per `[[token_api]]`, each bound to its
//! participant (an app or an issuer), on plain TCP or mutual TLS with the
//! switch's certificate, served by [`crate::token_api::serve`] with the switch as
//! the backend ([`super::token_backend`]) until the switch stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::runtime::Shared;
use super::token_backend::SwitchTokens;
use crate::error::StartError;

/// Bind every token API of the configuration and serve it; the bound addresses
/// go into `listening` under the API's name.
pub(crate) fn serve_all(
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    listening: &mut HashMap<String, SocketAddr>,
) -> Result<(), StartError> {
    if shared.config.token_apis.is_empty() {
        return Ok(());
    }
    let backend = SwitchTokens::new(shared);
    for api in shared.config.token_apis.clone() {
        let tls = if api.tls {
            let material = shared
                .config
                .tls
                .as_ref()
                .and_then(|t| t.material.as_ref())
                .ok_or_else(|| StartError::TokenApiTls(api.name.clone()))?;
            Some(material.server.clone())
        } else {
            None
        };
        let cannot_listen = |source| StartError::TokenApiListen {
            api: api.name.clone(),
            address: api.address,
            source,
        };
        let listener = super::runtime::listen(api.address).map_err(cannot_listen)?;
        let addr = listener.local_addr().map_err(cannot_listen)?;
        tracing::info!(api = %api.name, %addr, tls = api.tls, "token API listening");
        listening.insert(api.name.clone(), addr);
        tasks.spawn(crate::token_api::serve(
            listener,
            api,
            tls,
            backend.clone(),
            shared.stop.subscribe(),
        ));
    }
    Ok(())
}
