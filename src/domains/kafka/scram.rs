//! A SCRAM credential of one of the tenant's service principals (KIP-554): the user, the mechanism, the
//! iterations, and the password as a secret. Kafka never gives a password back: the live side reads the
//! user, mechanism and iterations (DescribeUserScramCredentials) and the password is known by its
//! fingerprint, as a PostgreSQL role's. The user carries the tenant's Kafka prefix (`acme.orders-svc`).

use crate::diag::Rule;
use crate::domains::{Checker, HazardCx, ResourceKind};
use crate::model::flags::*;
use crate::model::{Domain, FieldMeta, Hazard, HazardCode, KindMeta, SecretValue, Tenant};
use crate::{choice, kind_basics, model};

use super::TOPIC_PREFIX_SCOPE;

choice! { "snake_case";
    pub enum ScramMechanism {
        #[serde(rename = "SCRAM-SHA-256")]
        ScramSha256,
        #[serde(rename = "SCRAM-SHA-512")]
        ScramSha512,
    }
}

impl ScramMechanism {
    /// The mechanism as Kafka names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScramMechanism::ScramSha256 => "SCRAM-SHA-256",
            ScramMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Kafka's bounds on a SCRAM credential's iterations (`ScramMechanism`: 4096 to 16384), and its default.
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;

model! {
    /// A SCRAM credential of a service principal.
    pub struct ScramCredential {
        /// The user (the principal is `User:<user>`), with the tenant's Kafka prefix.
        pub user: String,
        pub mechanism: ScramMechanism,
        /// Default: 4096.
        pub iterations: Option<u32>,
        /// The password: never read back; set when created and when it changes.
        pub password: Option<SecretValue>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub depends_on: Vec<String>,
    }
}

pub(super) const SCRAM_RULE: Rule = Rule {
    id: "kafka-scram-credential",
    says: "a SCRAM credential has a user, a password, and 4096 to 16384 iterations",
    source: "Apache Kafka, KIP-554 and ScramMechanism (AlterUserScramCredentials: UNACCEPTABLE_CREDENTIAL)",
    breaks: "[[kafka.scram_credential]]\nuser = \"acme.orders-svc\"\nmechanism = \"SCRAM-SHA-512\"\n\
             iterations = 1000\npassword = { env = \"ORDERS_KAFKA_PASSWORD\" }\n",
};

static SCRAM_CREDENTIAL: KindMeta = KindMeta {
    domain: Domain::Kafka,
    kind: "scram_credential",
    title: "Kafka SCRAM credential",
    identity: &["user", "mechanism"],
    holds_data: false,
    fields: &[
        FieldMeta::new("iterations", SERVER_DEFAULT),
        FieldMeta::new("password", SECRET),
        FieldMeta::new("depends_on", SET),
    ],
};

impl ResourceKind for ScramCredential {
    kind_basics!(SCRAM_CREDENTIAL, |self| {
        vec![self.user.clone(), self.mechanism.as_str().to_string()]
    });
    fn normalize(&mut self) {
        if self.iterations == Some(MIN_ITERATIONS) {
            self.iterations = None;
        }
    }
    fn in_scope(&self, tenant: &Tenant) -> bool {
        self.user.starts_with(&tenant.name(&TOPIC_PREFIX_SCOPE))
    }
    fn check(&self, cx: &mut Checker<'_>) {
        cx.under(&SCRAM_RULE, |cx| {
            cx.name("user", &self.user, crate::domains::names::non_empty_max(255))
        });
        let prefix = cx.tenant.name(&TOPIC_PREFIX_SCOPE);
        cx.scope("user", "SCRAM user", &self.user, &[prefix], true);
        if let Some(i) = self.iterations
            && !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&i)
        {
            cx.rule(
                "iterations",
                &SCRAM_RULE,
                format!("{i} iterations: Kafka takes {MIN_ITERATIONS} to {MAX_ITERATIONS}"),
            );
        }
        if self.password.is_none() {
            cx.rule(
                "password",
                &SCRAM_RULE,
                "a SCRAM credential needs a password (`{ env = \"NAME\" }`, a file or a command)",
            );
        }
        cx.secret("password", self.password.as_ref());
    }
    /// A password a backup or an export could not carry (redacted): the credential is written only with it.
    fn secrets_needed(&self) -> Vec<String> {
        SecretValue::unknown_at(self.password.as_ref(), "/password")
    }
    fn without_unknown_secrets(&mut self) {
        SecretValue::forget_unknown(&mut self.password);
    }
    /// Kafka sets a credential only with its password.
    fn creation_gaps(&self) -> Vec<String> {
        match self.password {
            None | Some(SecretValue::Redacted(_)) => {
                vec!["its password (never read from Kafka: give it in a manifest)".into()]
            }
            _ => Vec::new(),
        }
    }
    fn hazards(&self, live: Option<&Self>, _: &HazardCx<'_>) -> Vec<Hazard> {
        match live {
            Some(l) if l.iterations != self.iterations => vec![Hazard::new(
                HazardCode::ChangesSignIn,
                format!(
                    "{}'s {} credential is set anew: clients signed in keep working, new sign-ins need the \
                     manifest's password",
                    self.user,
                    self.mechanism.as_str()
                ),
            )],
            _ => Vec::new(),
        }
    }
    fn delete_hazards(&self) -> Vec<Hazard> {
        vec![Hazard::new(
            HazardCode::ChangesSignIn,
            format!(
                "{} can no longer sign in with {}",
                self.user,
                self.mechanism.as_str()
            ),
        )]
    }
    fn rename(&mut self, r: &crate::domains::rename::Renamer) {
        r.name(&TOPIC_PREFIX_SCOPE, &mut self.user);
    }
}
