//! One ACME order, start to finish, through `instant-acme`: account (stored
//! or created), new order, one challenge per pending authorization published
//! in [`Challenges`], wait for the order to be ready, finalize with a fresh
//! ECDSA P-256 key, download the chain.
//!
//! The published answers are withdrawn when the order ends, however it ends
//! (the [`Published`] guard), including when the task is cancelled.

use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, Order, OrderStatus, RetryPolicy,
};

use crate::challenge::{tls_alpn01_certificate, Challenges};
use crate::shared::{Shared, SharedChallenge};
use crate::storage::DirStore;
use crate::{AcmeConfig, ChallengeKind, Error, Issued};

/// The problem type of an account the server does not know (deleted, or a
/// test server that restarted): the stored account is dropped and a new one
/// created on the next attempt.
const ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

/// An account, dialled lazily: a front door with a valid stored certificate
/// never talks to the ACME server at start.
pub(crate) struct Accounts {
    account: Option<Account>,
}

impl Accounts {
    pub(crate) fn new() -> Accounts {
        Accounts { account: None }
    }

    async fn get(
        &mut self,
        store: &DirStore,
        shared: Option<&Shared>,
        config: &AcmeConfig,
    ) -> Result<Account, Error> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        let builder = || match &config.ca_file {
            Some(ca) => Account::builder_with_root(ca),
            None => Account::builder(),
        };
        // Shared first: every front door behind the same names uses one account.
        let stored = match shared {
            Some(sh) => match sh.load_account().await? {
                Some(json) => Some(json),
                None => {
                    let local = store.load_account()?;
                    if let Some(json) = &local {
                        sh.save_account(json).await?;
                    }
                    local
                }
            },
            None => store.load_account()?,
        };
        let account = match stored {
            Some(json) => {
                let creds: AccountCredentials = serde_json::from_str(&json).map_err(|e| {
                    Error::Certificate(format!(
                        "stored account {} is not valid: {e}",
                        store.account_path().display()
                    ))
                })?;
                let a = builder()?.from_credentials(creds).await?;
                tracing::info!(account = a.id(), "acme: using the stored account");
                a
            }
            None => {
                let contact: Vec<String> = config
                    .contact
                    .iter()
                    .map(|c| {
                        if c.contains(':') {
                            c.clone()
                        } else {
                            format!("mailto:{c}")
                        }
                    })
                    .collect();
                let refs: Vec<&str> = contact.iter().map(String::as_str).collect();
                tracing::info!(directory = %config.directory, contact = ?contact, "acme: creating an account");
                let (a, creds) = builder()?
                    .create(
                        &NewAccount {
                            contact: &refs,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        config.directory.clone(),
                        None,
                    )
                    .await?;
                let json = serde_json::to_string(&creds)
                    .map_err(|e| Error::Certificate(format!("account credentials: {e}")))?;
                store.save_account(&json)?;
                if let Some(sh) = shared {
                    sh.save_account(&json).await?;
                }
                tracing::info!(account = a.id(), path = %store.account_path().display(), "acme: account created and stored");
                a
            }
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    /// Forget an account the server no longer knows, here and in the shared
    /// store (else every front door would load it again).
    async fn forget(&mut self, store: &DirStore, shared: Option<&Shared>) {
        self.account = None;
        if let Some(sh) = shared {
            if let Err(e) = sh.remove_account().await {
                tracing::warn!(error = %e, "acme: could not remove the unknown account from the shared store");
            }
        }
        let path = store.account_path();
        let aside = path.with_extension("json.unknown");
        if std::fs::rename(&path, &aside).is_ok() {
            tracing::warn!(path = %aside.display(), "acme: the server does not know the stored account; set it aside, a new one will be created");
        }
    }
}

/// Answers published for one order; the local ones are withdrawn on drop,
/// the shared ones after the validation (or by their TTL).
struct Published {
    challenges: Challenges,
    http01: Vec<String>,
    tls_alpn01: Vec<String>,
    shared: Vec<String>,
}

impl Drop for Published {
    fn drop(&mut self) {
        for token in &self.http01 {
            self.challenges.remove_http01(token);
        }
        for name in &self.tls_alpn01 {
            self.challenges.remove_tls_alpn01(name);
        }
    }
}

/// Order a certificate for `config.domains`.
pub(crate) async fn obtain(
    accounts: &mut Accounts,
    store: &DirStore,
    shared: Option<&Shared>,
    config: &AcmeConfig,
    challenges: &Challenges,
) -> Result<Issued, Error> {
    let account = accounts.get(store, shared, config).await?;
    let identifiers: Vec<Identifier> = config
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.clone()))
        .collect();
    tracing::info!(domains = ?config.domains, challenge = %config.challenge, "acme: ordering a certificate");
    let mut order = match account.new_order(&NewOrder::new(&identifiers)).await {
        Ok(o) => o,
        Err(instant_acme::Error::Api(p)) if p.r#type.as_deref() == Some(ACCOUNT_DOES_NOT_EXIST) => {
            accounts.forget(store, shared).await;
            return Err(instant_acme::Error::Api(p).into());
        }
        Err(e) => return Err(e.into()),
    };
    tracing::debug!(order = order.url(), "acme: order created");

    let mut published = Published {
        challenges: challenges.clone(),
        http01: Vec::new(),
        tls_alpn01: Vec::new(),
        shared: Vec::new(),
    };
    let wanted = match config.challenge {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz?;
        let name = authz.identifier().to_string();
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => {
                tracing::info!(name, "acme: name already authorized");
                continue;
            }
            other => {
                return Err(Error::Order(format!(
                    "the authorization for {name} is {other:?}"
                )))
            }
        }
        let mut challenge = authz.challenge(wanted.clone()).ok_or_else(|| {
            Error::Order(format!(
                "the server offers no {} challenge for {name}",
                config.challenge
            ))
        })?;
        let key_authorization = challenge.key_authorization();
        if let Some(sh) = shared {
            // The validation may reach another front door: publish the
            // answer for them and give them a few polls to copy it.
            let c = SharedChallenge {
                kind: config.challenge.to_string(),
                token: challenge.token.clone(),
                key_authorization: key_authorization.as_str().to_string(),
            };
            sh.put_challenge(&name, &c, config.order_timeout).await?;
            published.shared.push(name.clone());
        }
        match config.challenge {
            ChallengeKind::Http01 => {
                let token = challenge.token.clone();
                challenges.put_http01(&token, key_authorization.as_str());
                published.http01.push(token);
            }
            ChallengeKind::TlsAlpn01 => {
                let cert = tls_alpn01_certificate(&name, key_authorization.digest().as_ref())?;
                challenges.put_tls_alpn01(&name, cert);
                published.tls_alpn01.push(name.clone());
            }
        }
        if shared.is_some() {
            tokio::time::sleep(config.store_poll * 3).await;
        }
        challenge.set_ready().await?;
        tracing::info!(name, challenge = %config.challenge, "acme: challenge published, server asked to validate");
    }

    let policy = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(config.order_timeout);
    let status = order.poll_ready(&policy).await;
    if let Some(sh) = shared {
        for name in std::mem::take(&mut published.shared) {
            if let Err(e) = sh.remove_challenge(&name).await {
                tracing::debug!(error = %e, "acme: shared challenge left to expire");
            }
        }
    }
    if status? != OrderStatus::Ready {
        return Err(Error::Order(failure_reason(&mut order).await));
    }
    drop(published);
    tracing::info!(domains = ?config.domains, "acme: names validated, finalizing");

    let key_pem = order.finalize().await?;
    let chain_pem = order.poll_certificate(&policy).await?;
    let issued = Issued::from_pem(&chain_pem, &key_pem)?;
    if !issued.covers(&config.domains) {
        return Err(Error::Order(format!(
            "the issued certificate names {:?}, not all of {:?}",
            issued.domains, config.domains
        )));
    }
    Ok(issued)
}

/// Why an order became invalid: the challenge errors the server reported.
async fn failure_reason(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let Ok(mut authz) = authz else { continue };
        let name = authz.identifier().to_string();
        if let Ok(state) = authz.refresh().await {
            for c in &state.challenges {
                if let Some(problem) = &c.error {
                    reasons.push(format!("{name}: {problem}"));
                }
            }
        }
    }
    if reasons.is_empty() {
        "the order became invalid (no challenge error reported)".to_string()
    } else {
        format!("validation failed: {}", reasons.join("; "))
    }
}
