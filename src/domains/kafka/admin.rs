//! The Kafka broker through librdkafka's admin API (`rdkafka`): cluster metadata, DescribeConfigs,
//! CreateTopics, CreatePartitions and DeleteTopics in one request each for a whole batch, and
//! IncrementalAlterConfigs, which the `rdkafka` crate lacks, through `rdkafka-sys`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka_sys as sys;

use super::security::Security;
use super::{ConfigValue, Topic};
use crate::setup::SetupError;

pub type Admin = Arc<AdminClient<DefaultClientContext>>;

/// How long one admin request may take: the request timeout of Kafka (`crate::util::timeouts`).
pub fn timeout() -> Duration {
    crate::util::timeouts().request
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(timeout()))
}

/// Whether a failed read may pass if sent again: the connection to the broker was lost (librdkafka does
/// not send an admin request again by itself). Not a timeout: a hung broker would only multiply the wait.
fn lost(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode as Code;
    let code = match e {
        KafkaError::AdminOp(code) => Some(*code),
        other => other.rdkafka_error_code(),
    };
    matches!(
        code,
        Some(Code::BrokerTransportFailure | Code::AllBrokersDown | Code::NetworkException)
    )
}

/// Connects to the brokers `security` names, signed in and encrypted as it says, and checks that they
/// answer. A broker that refuses the credentials or the TLS handshake fails at once, by kind
/// ([`SetupError::SignIn`], [`SetupError::Tls`]); one that cannot be reached within the connect timeout is
/// [`SetupError::Unreachable`].
pub async fn connect(security: &Security) -> Result<Admin, SetupError> {
    let bootstrap = security.bootstrap.clone();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
        .set("client.id", "falconer")
        // A metadata request for a missing topic must never create it.
        .set("allow.auto.create.topics", "false")
        .set("log_level", "3")
        // Errors (a refused sign-in, a failed handshake) as events on the main queue, read by `refusal`.
        .set("enabled_events", sys::RD_KAFKA_EVENT_ERROR.to_string());
    security.configure(&mut config);
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(|e| {
        SetupError::setting(
            format!("the Kafka client for {bootstrap}"),
            format!("cannot be set up: {e}"),
        )
    })?;
    if let Some(o) = &security.oauth {
        let token = super::security::token(o, &security.tls).await?;
        set_token(&admin, &token, &o.client_id)?;
    }
    let admin = Arc::new(admin);
    let probe = admin.clone();
    let tls = security.tls.clone();
    crate::util::blocking(move || answers(&probe, &bootstrap, &tls))
        .await
        .map_err(|e| SetupError::Unreachable(format!("cannot reach Kafka: {e}")))??;
    Ok(admin)
}

/// Hands an OAUTHBEARER token to librdkafka, before its first connection.
fn set_token(
    admin: &AdminClient<DefaultClientContext>,
    token: &super::security::Token,
    principal: &str,
) -> Result<(), SetupError> {
    let bad = |why: String| SetupError::setting("the Kafka OAuth token", why);
    let value = CString::new(token.value.as_str()).map_err(|e| bad(e.to_string()))?;
    let principal = CString::new(principal).map_err(|e| bad(e.to_string()))?;
    let mut err = [0 as std::ffi::c_char; 512];
    // SAFETY: the client is alive; the strings and the error buffer outlive the call, which copies them.
    let code = unsafe {
        sys::rd_kafka_oauthbearer_set_token(
            admin.inner().native_ptr(),
            value.as_ptr(),
            token.expires_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if code == sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Ok(());
    }
    // SAFETY: librdkafka wrote a NUL-terminated message into the buffer.
    let why = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
    Err(bad(format!("was not taken by librdkafka: {why}")))
}

/// Waits (within the connect timeout) until the brokers answer a Metadata request; a refused sign-in or
/// handshake, reported by librdkafka as an error event, ends the wait at once.
fn answers(
    admin: &AdminClient<DefaultClientContext>,
    bootstrap: &str,
    tls: &crate::tls::Tls,
) -> Result<(), SetupError> {
    let limit = crate::util::timeouts().connect;
    let started = std::time::Instant::now();
    loop {
        let step = Duration::from_millis(500).min(limit);
        let e = match admin.inner().fetch_metadata(None, step) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if let Some(refused) = refusal(admin, bootstrap, tls) {
            return Err(refused);
        }
        if started.elapsed() >= limit {
            return Err(SetupError::Unreachable(format!(
                "cannot reach Kafka at {bootstrap}: {e} (within the connect timeout of {} s)",
                limit.as_secs()
            )));
        }
    }
}

/// A refused sign-in or TLS handshake among the error events librdkafka has queued (the other events are
/// consumed too: no one else reads the admin client's main queue).
fn refusal(
    admin: &AdminClient<DefaultClientContext>,
    bootstrap: &str,
    tls: &crate::tls::Tls,
) -> Option<SetupError> {
    use sys::rd_kafka_resp_err_t as Code;
    let mut found = None;
    // SAFETY: the client is alive; each event is destroyed once, the queue handle released at the end.
    unsafe {
        let queue = sys::rd_kafka_queue_get_main(admin.inner().native_ptr());
        loop {
            let ev = sys::rd_kafka_queue_poll(queue, 0);
            if ev.is_null() {
                break;
            }
            if sys::rd_kafka_event_type(ev) == sys::RD_KAFKA_EVENT_ERROR {
                let code = sys::rd_kafka_event_error(ev);
                let words = CStr::from_ptr(sys::rd_kafka_event_error_string(ev))
                    .to_string_lossy()
                    .into_owned();
                let what = format!("Kafka at {bootstrap} refused falconer");
                found = match code {
                    Code::RD_KAFKA_RESP_ERR__AUTHENTICATION => Some(SetupError::SignIn(format!(
                        "{what}'s sign-in: {words}; check [kafka] username and password (or oauth), and sasl_mechanism"
                    ))),
                    Code::RD_KAFKA_RESP_ERR__SSL => Some(SetupError::Tls(format!(
                        "cannot connect to Kafka at {bootstrap}: TLS failed ({words}): check {}, {} and {}",
                        tls.key("ca_file"),
                        tls.key("cert_file"),
                        tls.key("mode")
                    ))),
                    _ => found,
                };
            }
            sys::rd_kafka_event_destroy(ev);
        }
        sys::rd_kafka_queue_destroy(queue);
    }
    found
}

/// A topic's name, partition count and replication factor.
pub type TopicShape = (String, u32, i16);

/// What one Metadata request tells of the cluster: its topics and how many brokers it has.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub topics: Vec<TopicShape>,
    pub brokers: usize,
}

/// Every topic of the cluster with its partition count and replication factor, and the brokers (one
/// full-cluster Metadata request: asking for one missing topic could create it on some brokers).
pub async fn metadata(admin: &Admin) -> Result<Cluster, AdminError> {
    let fetch = || {
        let a = admin.clone();
        async move {
            let fetched = crate::util::blocking(move || a.inner().fetch_metadata(None, timeout()));
            // The blocking task cannot be joined only if it panicked: no metadata.
            fetched.await.unwrap_or(Err(rdkafka::error::KafkaError::Canceled))
        }
    };
    let md = crate::util::retry_read("Kafka", fetch, lost, || None)
        .await
        .map_err(|e| failed("metadata", e))?;
    let brokers = md.brokers().len();
    let topics = md
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
        .map(|t| {
            let rf = t
                .partitions()
                .first()
                .map(|p| p.replicas().len() as i16)
                .unwrap_or(0);
            (t.name().to_string(), t.partitions().len() as u32, rf)
        })
        .collect();
    Ok(Cluster { topics, brokers })
}

/// A topic's configs from DescribeConfigs: those set on the topic itself, and every effective value.
#[derive(Debug, Default, Clone)]
pub struct TopicConfigs {
    pub set: BTreeMap<String, ConfigValue>,
    pub effective: BTreeMap<String, ConfigValue>,
}

/// The configs of each topic (DescribeConfigs, one request for all).
pub async fn topic_configs(
    admin: &Admin,
    names: &[String],
) -> Result<Vec<TopicConfigs>, AdminError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let specs: Vec<ResourceSpecifier<'_>> =
        names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let opts = options();
    let describe = || admin.describe_configs(specs.iter(), &opts);
    let results = crate::util::retry_read("Kafka", describe, lost, || None)
        .await
        .map_err(|e| failed("DescribeConfigs", e))?;
    results
        .into_iter()
        .zip(names)
        .map(|(r, name)| {
            let r = r.map_err(|e| refused("describe the configs of", name, e))?;
            let mut out = TopicConfigs::default();
            for e in &r.entries {
                let Some(v) = e.value.clone() else { continue };
                if matches!(e.source, ConfigSource::DynamicTopic) {
                    out.set.insert(e.name.clone(), ConfigValue(v.clone()));
                }
                out.effective.insert(e.name.clone(), ConfigValue(v));
            }
            Ok(out)
        })
        .collect()
}

/// The tenant's topics (of `all`, the cluster's) as the broker has them: the configs set on each topic, plus, for the configs `declared`
/// names for a topic, their effective value (so a manifest or artifact that repeats a broker default shows
/// no change); broker defaults are otherwise never listed.
pub async fn topics(
    admin: &Admin,
    all: Vec<TopicShape>,
    wanted: impl Fn(&str) -> bool,
    declared: &HashMap<String, Vec<String>>,
) -> Result<Vec<Topic>, AdminError> {
    let mine: Vec<TopicShape> = all
        .into_iter()
        .filter(|(n, _, _)| wanted(n))
        .collect();
    let names: Vec<String> = mine.iter().map(|(n, _, _)| n.clone()).collect();
    let configs = topic_configs(admin, &names).await?;
    Ok(mine
        .into_iter()
        .zip(configs)
        .map(|((name, partitions, rf), c)| {
            let mut config = c.set;
            for key in declared.get(&name).into_iter().flatten() {
                if !config.contains_key(key)
                    && let Some(v) = c.effective.get(key)
                {
                    config.insert(key.clone(), v.clone());
                }
            }
            Topic {
                name,
                partitions,
                replication_factor: Some(rf),
                config,
                depends_on: Vec::new(),
            }
        })
        .collect())
}

/// Why a request to Kafka's brokers failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    /// A request failed as a whole (the client's words).
    #[error("Kafka {request}: {message}")]
    Failed {
        request: &'static str,
        message: String,
    },
    /// The broker refused one topic's part of a request.
    #[error("Kafka refused to {what} topic {topic}: {code}")]
    Refused {
        what: &'static str,
        topic: String,
        code: String,
    },
    /// A config librdkafka would not take.
    #[error("topic {topic}, config `{key}`: {message}")]
    BadConfig {
        topic: String,
        key: String,
        message: String,
    },
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    #[error("cannot describe topic {0} to librdkafka")]
    Resource(String),
    #[error("Kafka IncrementalAlterConfigs: an unexpected answer")]
    Unexpected,
    #[error(transparent)]
    Request(#[from] RequestError),
}

fn failed(request: &'static str, e: impl std::fmt::Display) -> AdminError {
    AdminError::Failed {
        request,
        message: e.to_string(),
    }
}

/// A refusal of the broker, with the topic named.
fn refused(what: &'static str, topic: &str, e: impl std::fmt::Debug) -> AdminError {
    AdminError::Refused {
        what,
        topic: topic.to_string(),
        code: format!("{e:?}"),
    }
}

/// Creates topics in one CreateTopics request (with their configs).
pub async fn create_topics(admin: &Admin, topics: &[&Topic]) -> Result<(), AdminError> {
    if topics.is_empty() {
        return Ok(());
    }
    let news: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            let rf = TopicReplication::Fixed(t.replication_factor.map_or(-1, i32::from));
            t.config.iter().fold(
                NewTopic::new(&t.name, t.partitions as i32, rf),
                |n, (k, v)| n.set(k, &v.0),
            )
        })
        .collect();
    let results = admin
        .create_topics(news.iter(), &options())
        .await
        .map_err(|e| failed("CreateTopics", e))?;
    for r in results {
        if let Err((topic, code)) = r {
            // Created by an earlier run that was stopped: the next plan sees it.
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                return Err(refused("create", &topic, code));
            }
        }
    }
    Ok(())
}

/// Raises partition counts in one CreatePartitions request.
pub async fn add_partitions(admin: &Admin, topics: &[(&str, u32)]) -> Result<(), AdminError> {
    if topics.is_empty() {
        return Ok(());
    }
    let parts: Vec<NewPartitions<'_>> = topics
        .iter()
        .map(|(n, count)| NewPartitions::new(n, *count as usize))
        .collect();
    for r in admin
        .create_partitions(parts.iter(), &options())
        .await
        .map_err(|e| failed("CreatePartitions", e))?
    {
        r.map_err(|(topic, code)| refused("add partitions to", &topic, code))?;
    }
    Ok(())
}

/// Deletes topics in one DeleteTopics request; a topic already gone counts as deleted.
pub async fn delete_topics(admin: &Admin, names: &[&str]) -> Result<(), AdminError> {
    if names.is_empty() {
        return Ok(());
    }
    for r in admin
        .delete_topics(names, &options())
        .await
        .map_err(|e| failed("DeleteTopics", e))?
    {
        if let Err((topic, code)) = r
            && code != rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
        {
            return Err(refused("delete", &topic, code));
        }
    }
    Ok(())
}

/// One topic's config changes: `Some(value)` sets, `None` deletes (back to the broker's default).
pub type ConfigChanges = Vec<(String, Vec<(String, Option<String>)>)>;

/// Applies config changes of many topics in one IncrementalAlterConfigs request (librdkafka's
/// `rd_kafka_IncrementalAlterConfigs`; the `rdkafka` crate only has the old AlterConfigs, which replaces
/// every config of a topic).
pub async fn alter_configs(admin: &Admin, changes: ConfigChanges) -> Result<(), AdminError> {
    if changes.is_empty() {
        return Ok(());
    }
    let admin = admin.clone();
    crate::util::blocking(move || incremental_alter(&admin, &changes))
        .await
        .map_err(|e| failed("IncrementalAlterConfigs", e))?
}

fn c_string(s: &str) -> Result<CString, AdminError> {
    CString::new(s).map_err(|_| AdminError::Nul(s.to_string()))
}

/// # Safety of the FFI below
/// Every object librdkafka hands out is destroyed exactly once, on every path: the resources (the request
/// copies them), the options, the queue and the event. Strings passed in live until the call returns.
fn incremental_alter(admin: &Admin, changes: &ConfigChanges) -> Result<(), AdminError> {
    let mut resources: Vec<*mut sys::rd_kafka_ConfigResource_t> = Vec::new();
    let result = (|| {
        for (topic, configs) in changes {
            let name = c_string(topic)?;
            // SAFETY: a valid C string; the resource is destroyed below.
            let res = unsafe {
                sys::rd_kafka_ConfigResource_new(
                    sys::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                    name.as_ptr(),
                )
            };
            if res.is_null() {
                return Err(AdminError::Resource(topic.clone()));
            }
            resources.push(res);
            for (key, value) in configs {
                let k = c_string(key)?;
                let v = value.as_deref().map(c_string).transpose()?;
                let op = match v {
                    Some(_) => sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                    None => sys::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE,
                };
                // SAFETY: valid resource and C strings (a null value for DELETE).
                let err = unsafe {
                    sys::rd_kafka_ConfigResource_add_incremental_config(
                        res,
                        k.as_ptr(),
                        op,
                        v.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                    )
                };
                if !err.is_null() {
                    // SAFETY: a valid error object, destroyed once.
                    let msg = unsafe { owned(sys::rd_kafka_error_string(err)) };
                    unsafe { sys::rd_kafka_error_destroy(err) };
                    return Err(AdminError::BadConfig {
                        topic: topic.clone(),
                        key: key.clone(),
                        message: msg,
                    });
                }
            }
        }
        let ev = request(
            admin,
            sys::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            // SAFETY: the resources are valid; librdkafka copies them.
            |rk, opts, queue| unsafe {
                sys::rd_kafka_IncrementalAlterConfigs(
                    rk,
                    resources.as_mut_ptr(),
                    resources.len(),
                    opts,
                    queue,
                )
            },
        )?;
        // SAFETY: the event of this request.
        unsafe { read_result(ev.0) }
    })();
    for r in resources {
        // SAFETY: created above, destroyed once.
        unsafe { sys::rd_kafka_ConfigResource_destroy(r) };
    }
    result
}

/// The answer to an admin request, destroyed when dropped.
pub struct Event(pub *mut sys::rd_kafka_event_t);

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: a non-null event from rd_kafka_queue_poll, destroyed once.
        unsafe { sys::rd_kafka_event_destroy(self.0) }
    }
}

/// A request-level error of an admin request: its code (`None` when no answer came in time) and words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub code: Option<sys::rd_kafka_resp_err_t>,
    pub message: String,
}

impl From<RequestError> for String {
    fn from(e: RequestError) -> String {
        e.message
    }
}

/// Sends one admin request (`send` gets the client handle, the options and the reply queue) and waits for its
/// answer; a request-level error (such as SECURITY_DISABLED) is returned with its code.
pub fn request(
    admin: &Admin,
    op: sys::rd_kafka_admin_op_t,
    send: impl FnOnce(
        *mut sys::rd_kafka_t,
        *const sys::rd_kafka_AdminOptions_t,
        *mut sys::rd_kafka_queue_t,
    ),
) -> Result<Event, RequestError> {
    let rk = admin.inner().native_ptr();
    // SAFETY: rk is the admin client's live handle; options and queue are destroyed before returning.
    unsafe {
        let opts = sys::rd_kafka_AdminOptions_new(rk, op);
        let mut errbuf = [0 as std::ffi::c_char; 256];
        sys::rd_kafka_AdminOptions_set_request_timeout(
            opts,
            timeout().as_millis() as i32,
            errbuf.as_mut_ptr(),
            errbuf.len(),
        );
        let queue = sys::rd_kafka_queue_new(rk);
        send(rk, opts, queue);
        let ev = sys::rd_kafka_queue_poll(queue, (timeout().as_millis() + 5_000) as i32);
        sys::rd_kafka_queue_destroy(queue);
        sys::rd_kafka_AdminOptions_destroy(opts);
        if ev.is_null() {
            return Err(RequestError {
                code: None,
                message: "no answer from Kafka within the timeout".into(),
            });
        }
        let ev = Event(ev);
        let code = sys::rd_kafka_event_error(ev.0);
        if code != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(RequestError {
                code: Some(code),
                message: format!(
                    "{} ({})",
                    owned(sys::rd_kafka_event_error_string(ev.0)),
                    owned(sys::rd_kafka_err2name(code))
                ),
            });
        }
        Ok(ev)
    }
}

/// # Safety
/// `ev` is the event of an IncrementalAlterConfigs request.
unsafe fn read_result(ev: *mut sys::rd_kafka_event_t) -> Result<(), AdminError> {
    unsafe {
        let res = sys::rd_kafka_event_IncrementalAlterConfigs_result(ev);
        if res.is_null() {
            return Err(AdminError::Unexpected);
        }
        let mut n = 0usize;
        let list = sys::rd_kafka_IncrementalAlterConfigs_result_resources(res, &mut n);
        for i in 0..n {
            let r = *list.add(i);
            if sys::rd_kafka_ConfigResource_error(r)
                != sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                let code = owned(sys::rd_kafka_err2name(sys::rd_kafka_ConfigResource_error(
                    r,
                )));
                return Err(AdminError::Refused {
                    what: "change the configs of",
                    topic: owned(sys::rd_kafka_ConfigResource_name(r)),
                    code: format!(
                        "{code}: {}",
                        owned(sys::rd_kafka_ConfigResource_error_string(r))
                    ),
                });
            }
        }
    }
    Ok(())
}

/// A C string librdkafka owns, copied (empty when null).
///
/// # Safety
/// `p` is null or a NUL-terminated string that lives for the call.
pub unsafe fn owned(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The consumer groups whose id starts with `prefix` (`ListGroups`): their committed offsets are state no
/// kind carries. A broker that does not answer the listing has none to name.
pub async fn groups(admin: &Admin, prefix: &str) -> Result<Vec<String>, AdminError> {
    let (a, prefix) = (admin.clone(), prefix.to_string());
    // The listing is read on the blocking thread: only the names cross back.
    let listed = crate::util::blocking(move || {
        a.inner().fetch_group_list(None, timeout()).map(|list| {
            let mut names: Vec<String> = list
                .groups()
                .iter()
                .map(|g| g.name().to_string())
                .filter(|n| n.starts_with(&prefix))
                .collect();
            names.sort();
            names
        })
    })
    .await;
    Ok(match listed {
        Ok(Ok(names)) => names,
        _ => Vec::new(),
    })
}
