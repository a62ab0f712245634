//! One run's connection to a realm: the admin calls every IAM change makes (a DELETE of what is gone counts as
//! done, a create of what exists answers `None`), and the ids looked up during the run.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::Value;

use super::client::{KcError, Keycloak};

/// One run's connection to a realm, with the ids it has looked up.
pub struct Session<'a> {
    pub kc: &'a Keycloak,
    pub realm: &'a str,
    pub(super) clients: Mutex<HashMap<String, String>>,
    pub(super) scopes: Mutex<HashMap<String, String>>,
    /// Roles as composites and mappings name them, by (client id, name): each is read once a run.
    pub(super) roles: Mutex<HashMap<(Option<String>, String), Value>>,
    /// The desired realm's flow bindings (Keycloak's member, the flow's alias): a flow's change sets those
    /// that name it.
    pub bindings: Vec<(&'static str, String)>,
}

pub(super) fn missing(what: &str, name: &str) -> KcError {
    KcError::Other(format!("{what} `{name}` does not exist in the realm"))
}

pub(super) fn is(e: &KcError, status: u16) -> bool {
    e.status() == Some(status)
}

pub(super) fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

pub(super) fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

impl<'a> Session<'a> {
    pub fn new(kc: &'a Keycloak, realm: &'a str) -> Session<'a> {
        Session {
            kc,
            realm,
            clients: Mutex::new(HashMap::new()),
            scopes: Mutex::new(HashMap::new()),
            roles: Mutex::new(HashMap::new()),
            bindings: Vec::new(),
        }
    }

    pub(super) async fn send(
        &self,
        method: Method,
        path: &[String],
        body: Option<&Value>,
    ) -> Result<super::client::Response, KcError> {
        self.kc.send(method, &refs(path), &[], body).await
    }

    /// A DELETE; what is already gone counts as deleted.
    pub(super) async fn delete(&self, path: &[String]) -> Result<(), KcError> {
        match self.send(Method::DELETE, path, None).await {
            Err(e) if is(&e, 404) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    pub(super) fn path(&self, rest: &[&str]) -> Vec<String> {
        let mut p = vec![self.realm.to_string()];
        p.extend(owned(rest));
        p
    }

    /// Creates an object; `Ok(None)` when it already exists (409).
    pub(super) async fn create(&self, path: &[String], body: &Value) -> Result<Option<String>, KcError> {
        match self.send(Method::POST, path, Some(body)).await {
            Ok(r) => Ok(Some(r.created_id().unwrap_or_default())),
            Err(e) if is(&e, 409) => Ok(None),
            Err(e) => Err(e),
        }
    }

}
