//! SCRAM credentials through librdkafka's calls for KIP-554 (`rd_kafka_DescribeUserScramCredentials`,
//! `rd_kafka_AlterUserScramCredentials` in `rdkafka-sys`; the `rdkafka` crate has neither). librdkafka salts
//! each password itself (64 random bytes) and sends the salted password, never the password. A cluster
//! without the API (Kafka before 2.7, or a broker that does not offer it) is [`CredentialError::Unsupported`].

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use rdkafka_sys as sys;

use super::admin::{self, Admin, owned};
use super::scram::{ScramCredential, ScramMechanism};
use crate::domains::item::{Action, Change};
use crate::model::Address;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CredentialError {
    #[error("the cluster does not offer SCRAM credentials (DescribeUserScramCredentials, Kafka 2.7 and later)")]
    Unsupported,
    /// The connection to the broker was lost (a read may be sent again).
    #[error("{0}")]
    Lost(String),
    #[error("{0}")]
    Other(String),
}

fn classify(e: admin::RequestError) -> CredentialError {
    use sys::rd_kafka_resp_err_t as E;
    match e.code {
        Some(E::RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE | E::RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION) => {
            CredentialError::Unsupported
        }
        Some(
            E::RD_KAFKA_RESP_ERR__TRANSPORT
            | E::RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
            | E::RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        ) => CredentialError::Lost(e.message),
        _ => CredentialError::Other(e.message),
    }
}

fn mechanism(m: ScramMechanism) -> sys::rd_kafka_ScramMechanism_t {
    match m {
        ScramMechanism::ScramSha256 => sys::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256,
        ScramMechanism::ScramSha512 => sys::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512,
    }
}

/// Every SCRAM credential of the cluster (one DescribeUserScramCredentials naming no user: all of them),
/// with the password unknown. Sent again when the connection to the broker was lost.
pub async fn describe(admin: &Admin) -> Result<Vec<ScramCredential>, CredentialError> {
    let once = || {
        let admin = admin.clone();
        async move {
            crate::util::blocking(move || describe_blocking(&admin))
                .await
                .map_err(|e| CredentialError::Other(e.to_string()))?
        }
    };
    let lost = |e: &CredentialError| matches!(e, CredentialError::Lost(_));
    crate::util::retry_read("Kafka", once, lost, || None).await
}

fn describe_blocking(admin: &Admin) -> Result<Vec<ScramCredential>, CredentialError> {
    let ev = admin::request(
        admin,
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEUSERSCRAMCREDENTIALS,
        // SAFETY: no users (all of them); librdkafka copies what it is given.
        |rk, opts, q| unsafe {
            sys::rd_kafka_DescribeUserScramCredentials(rk, std::ptr::null_mut(), 0, opts, q)
        },
    )
    .map_err(classify)?;
    let mut out = Vec::new();
    // SAFETY: the event of this request; the descriptions are owned by it, which outlives the loop.
    unsafe {
        let res = sys::rd_kafka_event_DescribeUserScramCredentials_result(ev.0);
        if res.is_null() {
            return Err(CredentialError::Other(
                "an unexpected answer to DescribeUserScramCredentials".into(),
            ));
        }
        let mut n = 0usize;
        let list = sys::rd_kafka_DescribeUserScramCredentials_result_descriptions(res, &mut n);
        for i in 0..n {
            let d = *list.add(i);
            let user = owned(sys::rd_kafka_UserScramCredentialsDescription_user(d));
            let error = sys::rd_kafka_UserScramCredentialsDescription_error(d);
            if !error.is_null()
                && sys::rd_kafka_error_code(error) != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                return Err(CredentialError::Other(format!(
                    "Kafka could not describe {user}'s SCRAM credentials: {}",
                    owned(sys::rd_kafka_error_string(error))
                )));
            }
            for j in 0..sys::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo_count(d) {
                let info = sys::rd_kafka_UserScramCredentialsDescription_scramcredentialinfo(d, j);
                let mechanism = match sys::rd_kafka_ScramCredentialInfo_mechanism(info) {
                    sys::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_256 => ScramMechanism::ScramSha256,
                    sys::rd_kafka_ScramMechanism_t::RD_KAFKA_SCRAM_MECHANISM_SHA_512 => ScramMechanism::ScramSha512,
                    _ => continue,
                };
                let iterations = u32::try_from(sys::rd_kafka_ScramCredentialInfo_iterations(info)).ok();
                let mut c = ScramCredential {
                    user: user.clone(),
                    mechanism,
                    iterations,
                    password: Some(crate::model::SecretValue::redacted()),
                    depends_on: Vec::new(),
                };
                crate::domains::ResourceKind::normalize(&mut c);
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// One change of a credential: set (the password in clear, salted by librdkafka) or deleted.
pub enum Alteration {
    Upsert {
        user: String,
        mechanism: ScramMechanism,
        iterations: u32,
        password: String,
    },
    Delete {
        user: String,
        mechanism: ScramMechanism,
    },
}

impl Alteration {
    fn user(&self) -> &str {
        match self {
            Alteration::Upsert { user, .. } | Alteration::Delete { user, .. } => user,
        }
    }

    /// The librdkafka alteration (destroyed by the caller).
    fn native(&self) -> Result<*mut sys::rd_kafka_UserScramCredentialAlteration_t, CredentialError> {
        let user = CString::new(self.user())
            .map_err(|_| CredentialError::Other(format!("{:?} contains a NUL byte", self.user())))?;
        // SAFETY: the user and password outlive the call; librdkafka copies them (a null salt: it makes one).
        let a = unsafe {
            match self {
                Alteration::Upsert {
                    mechanism: m,
                    iterations,
                    password,
                    ..
                } => sys::rd_kafka_UserScramCredentialUpsertion_new(
                    user.as_ptr(),
                    mechanism(*m),
                    i32::try_from(*iterations).unwrap_or(i32::MAX),
                    password.as_ptr(),
                    password.len(),
                    std::ptr::null(),
                    0,
                ),
                Alteration::Delete { mechanism: m, .. } => {
                    sys::rd_kafka_UserScramCredentialDeletion_new(user.as_ptr(), mechanism(*m))
                }
            }
        };
        if a.is_null() {
            return Err(CredentialError::Other(format!(
                "librdkafka could not make the SCRAM credential change of {}",
                self.user()
            )));
        }
        Ok(a)
    }
}

/// Carries out the alterations in one AlterUserScramCredentials request; each user's refusal is named.
pub async fn alter(admin: &Admin, changes: Vec<Alteration>) -> Result<(), CredentialError> {
    if changes.is_empty() {
        return Ok(());
    }
    let admin = admin.clone();
    crate::util::blocking(move || alter_blocking(&admin, &changes))
        .await
        .map_err(|e| CredentialError::Other(e.to_string()))?
}

fn alter_blocking(admin: &Admin, changes: &[Alteration]) -> Result<(), CredentialError> {
    let mut natives = Vec::with_capacity(changes.len());
    for c in changes {
        match c.native() {
            Ok(a) => natives.push(a),
            Err(e) => {
                destroy(&natives);
                return Err(e);
            }
        }
    }
    let ev = admin::request(
        admin,
        sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERUSERSCRAMCREDENTIALS,
        // SAFETY: valid alterations; librdkafka copies them.
        |rk, opts, q| unsafe {
            sys::rd_kafka_AlterUserScramCredentials(rk, natives.as_mut_ptr(), natives.len(), opts, q)
        },
    );
    destroy(&natives);
    let ev = ev.map_err(classify)?;
    let mut refused = Vec::new();
    // SAFETY: the event of this request; the responses are owned by it.
    unsafe {
        let res = sys::rd_kafka_event_AlterUserScramCredentials_result(ev.0);
        if res.is_null() {
            return Err(CredentialError::Other(
                "an unexpected answer to AlterUserScramCredentials".into(),
            ));
        }
        let mut n = 0usize;
        let list = sys::rd_kafka_AlterUserScramCredentials_result_responses(res, &mut n);
        for i in 0..n {
            let r = *list.add(i);
            let e = sys::rd_kafka_AlterUserScramCredentials_result_response_error(r);
            if !e.is_null() && sys::rd_kafka_error_code(e) != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                refused.push(format!(
                    "{} ({}): {}",
                    owned(sys::rd_kafka_AlterUserScramCredentials_result_response_user(r)),
                    owned(sys::rd_kafka_err2name(sys::rd_kafka_error_code(e))),
                    owned(sys::rd_kafka_error_string(e))
                ));
            }
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(CredentialError::Other(format!(
        "Kafka refused the SCRAM credentials of {} of {} change(s), the others were carried out: {}",
        refused.len(),
        changes.len(),
        refused.join("; ")
    )))
}

fn destroy(natives: &[*mut sys::rd_kafka_UserScramCredentialAlteration_t]) {
    for a in natives {
        // SAFETY: made by `native`, destroyed once.
        unsafe { sys::rd_kafka_UserScramCredentialAlteration_destroy(*a) };
    }
}

/// The alterations one wave's credential changes need: a created or changed credential set with its
/// password (read from its secret, relative to `bases`' directory for it), a deleted one removed. A change
/// whose password is unknown (redacted: an export or a backup) cannot be carried out: said, naming it.
pub fn alterations(
    wave: &[&Change],
    desired: &HashMap<&Address, &ScramCredential>,
    live: &HashMap<&Address, &ScramCredential>,
    bases: &HashMap<Address, PathBuf>,
) -> Result<Vec<Alteration>, String> {
    let mut out = Vec::new();
    for c in wave.iter().filter(|c| c.kind.name == "scram_credential") {
        match (c.action, desired.get(&c.address), live.get(&c.address)) {
            (Action::Delete, _, Some(l)) => out.push(Alteration::Delete {
                user: l.user.clone(),
                mechanism: l.mechanism,
            }),
            (Action::Create | Action::Update | Action::Replace, Some(d), _) => {
                out.push(upsert(c, d, bases)?)
            }
            _ => {}
        }
    }
    Ok(out)
}

fn upsert(
    c: &Change,
    d: &ScramCredential,
    bases: &HashMap<Address, PathBuf>,
) -> Result<Alteration, String> {
    let base = bases.get(&c.address).map(PathBuf::as_path).unwrap_or(Path::new("."));
    let password = d
        .password
        .as_ref()
        .map(|s| crate::secrets::resolve(s, base).map_err(|why| format!("{}: the password ({}) cannot be read: {}", c.address, s.describe(), why.0)))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            format!(
                "{}: the password is unknown (redacted), and Kafka sets a SCRAM credential only with its \
                 password: give it in the manifest (`password = {{ env = \"NAME\" }}`)",
                c.address
            )
        })?;
    Ok(Alteration::Upsert {
        user: d.user.clone(),
        mechanism: d.mechanism,
        iterations: d.iterations.unwrap_or(super::scram::MIN_ITERATIONS),
        password,
    })
}
