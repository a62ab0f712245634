//! A protocol-level Kafka test double with an authorizer: a TCP server on 127.0.0.1 that answers
//! ApiVersions, Metadata, DescribeAcls, CreateAcls, DeleteAcls, CreateTopics, DescribeConfigs,
//! IncrementalAlterConfigs, CreatePartitions, DeleteTopics, ListGroups and Describe/AlterUserScramCredentials as the Kafka protocol specifies (messages encoded and decoded by the `kafka-protocol` crate), keeps ACL bindings and topics in
//! memory, and counts the requests it gets. No broker here has an authorizer; this is what falconer's ACL
//! requests are verified against.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, CreateAclsResponse, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsResponse, DeleteAclsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, DescribeAclsResponse, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ListGroupsResponse,
    MetadataResponse, RequestKind, ResponseHeader, ResponseKind, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes, decode_request_header_from_buffer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

pub use crate::kafka_sasl::Sasl;
use crate::kafka_sasl::Session;

/// One ACL binding, in the protocol's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub resource_type: i8,
    pub name: String,
    pub pattern: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

#[derive(Debug, Default)]
pub struct State {
    pub acls: Vec<Binding>,
    /// Topics created: partition count and the configs set on them.
    pub topics: BTreeMap<String, (i32, BTreeMap<String, String>)>,
    /// Requests by API name.
    pub requests: BTreeMap<String, usize>,
    /// Requests (by API name) to answer by closing the connection instead, and how many more times.
    pub cut: BTreeMap<String, usize>,
    /// Principals whose ACLs the caller may not create: each such creation is answered
    /// CLUSTER_AUTHORIZATION_FAILED on its own, as a cluster that grants ALTER on a narrower scope does.
    pub refused_principals: Vec<String>,
    /// Sign-ins that passed: the mechanism and the principal.
    pub logins: Vec<(String, String)>,
    /// Sign-ins refused.
    pub refused_logins: usize,
    /// SCRAM credentials (shared with the sign-ins of a double with SASL).
    pub scram: crate::kafka_scram::Credentials,
    /// Whether the double answers as a cluster without SCRAM credentials' API (before Kafka 2.7).
    pub without_scram: bool,
}

/// How a double is secured: TLS (with its server configuration), and SASL. Neither: plain text, as
/// [`KafkaDouble::start`].
#[derive(Clone, Default)]
pub struct Secured {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub sasl: Option<Sasl>,
}

/// The protocol's error codes the double answers.
pub mod code {
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    pub const INVALID_PARTITIONS: i16 = 37;
    pub const INVALID_REPLICATION_FACTOR: i16 = 38;
    pub const INVALID_CONFIG: i16 = 40;
    pub const INVALID_REQUEST: i16 = 42;
    pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
    pub const ILLEGAL_SASL_STATE: i16 = 34;
    pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
}

/// The protocol's numbers for resource types, pattern types, operations and permissions (`AclBinding`).
mod acl_enum {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
    pub const CLUSTER: i8 = 4;
}

pub struct KafkaDouble {
    pub bootstrap: String,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KafkaDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const SUPPORTED: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
    ApiKey::CreateTopics,
    ApiKey::DescribeConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::DeleteTopics,
    ApiKey::ListGroups,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
    ApiKey::DescribeUserScramCredentials,
    ApiKey::AlterUserScramCredentials,
];

impl KafkaDouble {
    pub async fn start() -> KafkaDouble {
        KafkaDouble::start_secured(Secured::default()).await
    }

    /// A double over TLS (its bootstrap then names `localhost`, the name the tests' certificates carry)
    /// and with SASL, as `secured` says. A connection that asks for anything but ApiVersions and SASL before
    /// it has signed in is closed, as a broker does.
    pub async fn start_secured(secured: Secured) -> KafkaDouble {
        KafkaDouble::start_on(0, secured).await.expect("binds")
    }

    /// As [`KafkaDouble::start_secured`], on `port` (0: a free one).
    pub async fn start_on(port: u16, secured: Secured) -> std::io::Result<KafkaDouble> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            scram: secured
                .sasl
                .as_ref()
                .map(|s| s.credentials.clone())
                .unwrap_or_default(),
            ..State::default()
        }));
        let shared = state.clone();
        let host = if secured.tls.is_some() {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let acceptor = secured.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let sasl = secured.sasl.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let state = shared.clone();
                let (acceptor, sasl) = (acceptor.clone(), sasl.clone());
                tokio::spawn(async move {
                    let _ = match acceptor {
                        None => serve(conn, state, port, sasl).await,
                        Some(a) => match a.accept(conn).await {
                            Ok(tls) => serve(tls, state, port, sasl).await,
                            Err(_) => Ok(()),
                        },
                    };
                });
            }
        });
        Ok(KafkaDouble {
            bootstrap: format!("{host}:{port}"),
            state,
            task,
        })
    }

    pub fn count(&self, api: &str) -> usize {
        self.state
            .lock()
            .expect("state")
            .requests
            .get(api)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: S,
    state: Arc<Mutex<State>>,
    port: u16,
    sasl: Option<Sasl>,
) -> anyhow_like::Result {
    let mut session = Session::default();
    loop {
        let len = match conn.read_i32().await {
            Ok(n) => n as usize,
            Err(_) => return Ok(()),
        };
        let mut frame = vec![0u8; len];
        conn.read_exact(&mut frame).await?;
        let mut buf = Bytes::from(frame);
        let header = decode_request_header_from_buffer(&mut buf).map_err(anyhow_like::other)?;
        let api =
            ApiKey::try_from(header.request_api_key).map_err(|_| anyhow_like::msg("api key"))?;
        let version = header.request_api_version;
        {
            let mut s = state.lock().expect("state");
            *s.requests.entry(format!("{api:?}")).or_default() += 1;
            if let Some(n) = s.cut.get_mut(&format!("{api:?}")).filter(|n| **n > 0) {
                // The connection lost in the middle of a request: no answer.
                *n -= 1;
                return Ok(());
            }
        }
        let open = matches!(
            api,
            ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
        );
        if sasl.is_some() && session.principal.is_none() && !open {
            // Not signed in: a broker closes the connection.
            return Ok(());
        }
        let (response, version) = if api == ApiKey::ApiVersions
            && !(api.valid_versions().min..=api.valid_versions().max).contains(&version)
        {
            // A newer ApiVersions than this double knows: answer in v0 with UNSUPPORTED_VERSION, as brokers do.
            let mut r = api_versions(state.lock().expect("state").without_scram);
            r.error_code = 35;
            (ResponseKind::ApiVersions(r), 0)
        } else {
            let request =
                RequestKind::decode(api, &mut buf, version).map_err(anyhow_like::other)?;
            let answer = match (&sasl, request) {
                (Some(sasl), RequestKind::SaslHandshake(r)) => handshake(sasl, &mut session, &r),
                (Some(sasl), RequestKind::SaslAuthenticate(r)) => {
                    authenticate(sasl, &mut session, &r, &state)
                }
                (_, request) => respond(request, &state, port),
            };
            (answer, version)
        };
        let mut out = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, api.response_header_version(version))
            .map_err(anyhow_like::other)?;
        response
            .encode(&mut out, version)
            .map_err(anyhow_like::other)?;
        let mut framed = BytesMut::with_capacity(out.len() + 4);
        framed.put_i32(out.len() as i32);
        framed.put(out);
        conn.write_all(&framed).await?;
        let _ = buf.remaining();
    }
}

fn api_versions(without_scram: bool) -> ApiVersionsResponse {
    let scram = [
        ApiKey::DescribeUserScramCredentials,
        ApiKey::AlterUserScramCredentials,
    ];
    ApiVersionsResponse::default().with_api_keys(
        SUPPORTED
            .iter()
            .filter(|k| !(without_scram && scram.contains(k)))
            .map(|k| {
                let v = k.valid_versions();
                ApiVersion::default()
                    .with_api_key(*k as i16)
                    .with_min_version(v.min)
                    .with_max_version(v.max)
            })
            .collect(),
    )
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

/// Whether a binding's resource pattern matches a filter's: ANY matches every pattern type; MATCH matches
/// the bindings that apply to the named resource (a literal one of that name, the literal wildcard `*`, and
/// every prefixed one whose name starts the filter's name), as `ResourcePatternFilter.matches` defines it.
fn pattern_matches(b: &Binding, pattern: i8, name: Option<&str>) -> bool {
    use acl_enum::*;
    match pattern {
        ANY => name.is_none_or(|n| n == b.name),
        MATCH => match name {
            None => true,
            Some(n) => match b.pattern {
                LITERAL => b.name == n || b.name == "*",
                PREFIXED => n.starts_with(&b.name),
                _ => false,
            },
        },
        p => p == b.pattern && name.is_none_or(|n| n == b.name),
    }
}

/// Why Kafka refuses to create a binding (`AclControlManager.validateNewAcl`), if it does.
fn invalid_acl(b: &Binding) -> Option<&'static str> {
    use acl_enum::*;
    let principal_ok = b
        .principal
        .split_once(':')
        .is_some_and(|(t, n)| !t.is_empty() && !n.is_empty());
    if !(2..=7).contains(&b.resource_type) {
        Some("Invalid resourceType")
    } else if b.pattern != LITERAL && b.pattern != PREFIXED {
        Some("Invalid patternType")
    } else if b.operation <= 1 {
        Some("Invalid operation")
    } else if b.permission != 2 && b.permission != 3 {
        Some("Invalid permissionType")
    } else if b.name.is_empty() {
        Some("Resource name should not be empty")
    } else if b.resource_type == CLUSTER && b.name != "kafka-cluster" {
        Some("The only valid name for the CLUSTER resource is kafka-cluster")
    } else if !principal_ok {
        Some("Could not parse principal")
    } else {
        None
    }
}

/// Whether a binding matches a filter (1 = ANY for each member; pattern 2 = MATCH).
#[allow(clippy::too_many_arguments)]
fn matches(
    b: &Binding,
    rt: i8,
    name: Option<&str>,
    pattern: i8,
    principal: Option<&str>,
    host: Option<&str>,
    op: i8,
    perm: i8,
) -> bool {
    (rt == 1 || rt == b.resource_type)
        && pattern_matches(b, pattern, name)
        && principal.is_none_or(|p| p == b.principal)
        && host.is_none_or(|h| h == b.host)
        && (op == 1 || op == b.operation)
        && (perm == 1 || perm == b.permission)
}

fn respond(request: RequestKind, state: &Mutex<State>, port: u16) -> ResponseKind {
    let mut st = state.lock().expect("state");
    match request {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions(st.without_scram)),
        RequestKind::DescribeUserScramCredentials(req) => {
            ResponseKind::DescribeUserScramCredentials(crate::kafka_scram::describe(
                &st.scram, &req,
            ))
        }
        RequestKind::AlterUserScramCredentials(req) => {
            ResponseKind::AlterUserScramCredentials(crate::kafka_scram::alter(&st.scram, &req))
        }
        RequestKind::Metadata(req) => {
            let wanted: Option<Vec<String>> = req.topics.map(|ts| {
                ts.into_iter()
                    .filter_map(|t| t.name.map(|n| n.to_string()))
                    .collect()
            });
            let names: Vec<String> = match &wanted {
                Some(w) => w.clone(),
                None => st.topics.keys().cloned().collect(),
            };
            let topics = names
                .iter()
                .map(|n| match st.topics.get(n) {
                    Some((parts, _)) => MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s(n))))
                        .with_partitions(
                            (0..*parts)
                                .map(|i| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(i)
                                        .with_leader_id(BrokerId(1))
                                        .with_replica_nodes(vec![BrokerId(1)])
                                        .with_isr_nodes(vec![BrokerId(1)])
                                })
                                .collect(),
                        ),
                    None => MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s(n))))
                        .with_error_code(3),
                })
                .collect();
            ResponseKind::Metadata(
                MetadataResponse::default()
                    .with_brokers(vec![
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(1))
                            .with_host(s("127.0.0.1"))
                            .with_port(i32::from(port)),
                    ])
                    .with_cluster_id(Some(s("falconer-double")))
                    .with_controller_id(BrokerId(1))
                    .with_topics(topics),
            )
        }
        RequestKind::DescribeAcls(req) => {
            let mut resources: Vec<DescribeAclsResource> = Vec::new();
            for b in st.acls.iter().filter(|b| {
                matches(
                    b,
                    req.resource_type_filter,
                    req.resource_name_filter.as_deref(),
                    req.pattern_type_filter,
                    req.principal_filter.as_deref(),
                    req.host_filter.as_deref(),
                    req.operation,
                    req.permission_type,
                )
            }) {
                let acl = AclDescription::default()
                    .with_principal(s(&b.principal))
                    .with_host(s(&b.host))
                    .with_operation(b.operation)
                    .with_permission_type(b.permission);
                match resources.iter_mut().find(|r| {
                    r.resource_type == b.resource_type
                        && *r.resource_name == *b.name
                        && r.pattern_type == b.pattern
                }) {
                    Some(r) => r.acls.push(acl),
                    None => resources.push(
                        DescribeAclsResource::default()
                            .with_resource_type(b.resource_type)
                            .with_resource_name(s(&b.name))
                            .with_pattern_type(b.pattern)
                            .with_acls(vec![acl]),
                    ),
                }
            }
            ResponseKind::DescribeAcls(DescribeAclsResponse::default().with_resources(resources))
        }
        RequestKind::CreateAcls(req) => {
            let results = req
                .creations
                .iter()
                .map(|c| {
                    let b = Binding {
                        resource_type: c.resource_type,
                        name: c.resource_name.to_string(),
                        pattern: c.resource_pattern_type,
                        principal: c.principal.to_string(),
                        host: c.host.to_string(),
                        operation: c.operation,
                        permission: c.permission_type,
                    };
                    let refused = if let Some(why) = invalid_acl(&b) {
                        Some((code::INVALID_REQUEST, why))
                    } else if st.refused_principals.contains(&b.principal) {
                        Some((
                            code::CLUSTER_AUTHORIZATION_FAILED,
                            "Cluster authorization failed.",
                        ))
                    } else {
                        None
                    };
                    if let Some((error, why)) = refused {
                        return AclCreationResult::default()
                            .with_error_code(error)
                            .with_error_message(Some(s(why)));
                    }
                    if !st.acls.contains(&b) {
                        st.acls.push(b);
                    }
                    AclCreationResult::default()
                })
                .collect();
            ResponseKind::CreateAcls(CreateAclsResponse::default().with_results(results))
        }
        RequestKind::DeleteAcls(req) => {
            let filter_results = req
                .filters
                .iter()
                .map(|f| {
                    let (gone, kept): (Vec<Binding>, Vec<Binding>) =
                        st.acls.drain(..).partition(|b| {
                            matches(
                                b,
                                f.resource_type_filter,
                                f.resource_name_filter.as_deref(),
                                f.pattern_type_filter,
                                f.principal_filter.as_deref(),
                                f.host_filter.as_deref(),
                                f.operation,
                                f.permission_type,
                            )
                        });
                    st.acls = kept;
                    DeleteAclsFilterResult::default().with_matching_acls(
                        gone.iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_resource_type(b.resource_type)
                                    .with_resource_name(s(&b.name))
                                    .with_pattern_type(b.pattern)
                                    .with_principal(s(&b.principal))
                                    .with_host(s(&b.host))
                                    .with_operation(b.operation)
                                    .with_permission_type(b.permission)
                            })
                            .collect(),
                    )
                })
                .collect();
            ResponseKind::DeleteAcls(
                DeleteAclsResponse::default().with_filter_results(filter_results),
            )
        }
        RequestKind::CreateTopics(req) => {
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let configs: BTreeMap<String, String> = t
                        .configs
                        .iter()
                        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                        .collect();
                    let result = CreatableTopicResult::default().with_name(t.name.clone());
                    if let Some((error, why)) = invalid_topic(&st, t, &configs) {
                        return result
                            .with_error_code(error)
                            .with_error_message(Some(s(&why)));
                    }
                    if !req.validate_only {
                        st.topics
                            .insert(t.name.to_string(), (t.num_partitions.max(1), configs));
                    }
                    result
                        .with_num_partitions(t.num_partitions)
                        .with_replication_factor(t.replication_factor)
                })
                .collect();
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(topics))
        }
        RequestKind::DescribeConfigs(req) => {
            let results = req
                .resources
                .iter()
                .map(|r| {
                    let base = DescribeConfigsResult::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name.clone());
                    match st.topics.get(&r.resource_name.to_string()) {
                        // Source 1: DYNAMIC_TOPIC_CONFIG, set on the topic.
                        Some((_, configs)) => base.with_configs(
                            configs
                                .iter()
                                .map(|(k, v)| {
                                    DescribeConfigsResourceResult::default()
                                        .with_name(s(k))
                                        .with_value(Some(s(v)))
                                        .with_config_source(1)
                                })
                                .collect(),
                        ),
                        None => base.with_error_code(3),
                    }
                })
                .collect();
            ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results))
        }
        RequestKind::IncrementalAlterConfigs(req) => alter_configs(&mut st, &req),
        RequestKind::CreatePartitions(req) => create_partitions(&mut st, &req),
        RequestKind::DeleteTopics(req) => delete_topics(&mut st, &req),
        // No consumer group ever joins this double.
        RequestKind::ListGroups(_) => ResponseKind::ListGroups(ListGroupsResponse::default()),
        _ => unreachable!("only the advertised APIs are sent"),
    }
}

/// IncrementalAlterConfigs: SET (0) and DELETE (1) on a topic's configs; an unknown topic is
/// UNKNOWN_TOPIC_OR_PARTITION, an unknown config or another operation INVALID_CONFIG, each resource on its
/// own (Kafka's `ConfigAdminManager`).
fn alter_configs(st: &mut State, req: &IncrementalAlterConfigsRequest) -> ResponseKind {
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let result = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let Some((_, configs)) = st.topics.get_mut(&r.resource_name.to_string()) else {
                return result
                    .with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION)
                    .with_error_message(Some(s(
                        "This server does not host this topic-partition.",
                    )));
            };
            if let Some(bad) = r.configs.iter().find(|c| {
                !TOPIC_CONFIGS.contains(&&*c.name) || !(0..=1).contains(&c.config_operation)
            }) {
                return result
                    .with_error_code(code::INVALID_CONFIG)
                    .with_error_message(Some(s(&format!(
                        "Unknown topic config name: {}",
                        &*bad.name
                    ))));
            }
            if !req.validate_only {
                for c in &r.configs {
                    match (c.config_operation, &c.value) {
                        (0, Some(v)) => configs.insert(c.name.to_string(), v.to_string()),
                        _ => configs.remove(&c.name.to_string()),
                    };
                }
            }
            result
        })
        .collect();
    ResponseKind::IncrementalAlterConfigs(
        IncrementalAlterConfigsResponse::default().with_responses(responses),
    )
}

/// CreatePartitions: a topic grows only (INVALID_PARTITIONS otherwise, with Kafka's words).
fn create_partitions(st: &mut State, req: &CreatePartitionsRequest) -> ResponseKind {
    let results = req
        .topics
        .iter()
        .map(|t| {
            let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let refused = match st.topics.get_mut(&t.name.to_string()) {
                None => Some((code::UNKNOWN_TOPIC_OR_PARTITION, "The topic does not exist.".into())),
                Some((parts, _)) if t.count <= *parts => Some((
                    code::INVALID_PARTITIONS,
                    format!("Topic currently has {parts} partitions, which is higher than or equal to the requested {}.", t.count),
                )),
                Some((parts, _)) => {
                    if !req.validate_only {
                        *parts = t.count;
                    }
                    None
                }
            };
            match refused {
                Some((error, why)) => result.with_error_code(error).with_error_message(Some(s(&why))),
                None => result,
            }
        })
        .collect();
    ResponseKind::CreatePartitions(CreatePartitionsResponse::default().with_results(results))
}

/// DeleteTopics: by name (`topic_names` up to v5, `topics` from v6); an unknown one is
/// UNKNOWN_TOPIC_OR_PARTITION.
fn delete_topics(st: &mut State, req: &DeleteTopicsRequest) -> ResponseKind {
    let names: Vec<String> = req
        .topic_names
        .iter()
        .map(|n| n.to_string())
        .chain(
            req.topics
                .iter()
                .filter_map(|t| Some(t.name.as_ref()?.to_string())),
        )
        .collect();
    let responses = names
        .iter()
        .map(|n| {
            let result = DeletableTopicResult::default().with_name(Some(TopicName(s(n))));
            match st.topics.remove(n) {
                Some(_) => result,
                None => result.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION),
            }
        })
        .collect();
    ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses))
}

/// Topic configs a broker knows (a subset of Kafka's `TopicConfig`): another name is INVALID_CONFIG.
const TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "delete.retention.ms",
    "max.message.bytes",
    "min.cleanable.dirty.ratio",
    "min.insync.replicas",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
    "message.timestamp.type",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "preallocate",
    "segment.index.bytes",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
    "local.retention.ms",
    "local.retention.bytes",
    "remote.storage.enable",
];

/// Why Kafka refuses to create a topic (`CreateTopics`' per-topic errors), if it does: one broker here.
fn invalid_topic(
    st: &State,
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    configs: &BTreeMap<String, String>,
) -> Option<(i16, String)> {
    let name: &str = &t.name;
    let legal = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !legal {
        return Some((
            code::INVALID_TOPIC_EXCEPTION,
            format!("Topic name \"{name}\" is illegal"),
        ));
    }
    if st.topics.contains_key(name) {
        return Some((
            code::TOPIC_ALREADY_EXISTS,
            format!("Topic '{name}' already exists."),
        ));
    }
    if t.num_partitions == 0 || t.num_partitions < -1 {
        return Some((
            code::INVALID_PARTITIONS,
            "Number of partitions must be larger than 0.".into(),
        ));
    }
    if t.replication_factor == 0 || t.replication_factor < -1 || t.replication_factor > 1 {
        return Some((
            code::INVALID_REPLICATION_FACTOR,
            format!(
                "Unable to replicate the partition {} time(s): The target replication factor of {} cannot be reached because only 1 broker(s) are registered.",
                t.replication_factor, t.replication_factor
            ),
        ));
    }
    configs
        .keys()
        .find(|k| !TOPIC_CONFIGS.contains(&k.as_str()))
        .map(|k| {
            (
                code::INVALID_CONFIG,
                format!("Unknown topic config name: {k}"),
            )
        })
}

/// Just enough error plumbing for the serving loop (a broken connection ends it).
mod anyhow_like {
    pub type Result = std::result::Result<(), std::io::Error>;
    pub fn other(e: impl std::fmt::Display) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
    pub fn msg(m: &str) -> std::io::Error {
        std::io::Error::other(m.to_string())
    }
}

fn handshake(
    sasl: &Sasl,
    session: &mut Session,
    r: &kafka_protocol::messages::SaslHandshakeRequest,
) -> ResponseKind {
    let ok = sasl.handshake(session, r.mechanism.as_str());
    ResponseKind::SaslHandshake(
        kafka_protocol::messages::SaslHandshakeResponse::default()
            .with_error_code(if ok {
                0
            } else {
                code::UNSUPPORTED_SASL_MECHANISM
            })
            .with_mechanisms(sasl.mechanisms.iter().map(|m| s(m)).collect()),
    )
}

fn authenticate(
    sasl: &Sasl,
    session: &mut Session,
    r: &kafka_protocol::messages::SaslAuthenticateRequest,
    state: &Mutex<State>,
) -> ResponseKind {
    let answer = kafka_protocol::messages::SaslAuthenticateResponse::default();
    let mechanism = session.mechanism.clone().unwrap_or_default();
    ResponseKind::SaslAuthenticate(match sasl.authenticate(session, &r.auth_bytes) {
        Ok(bytes) => {
            if let Some(p) = &session.principal {
                state
                    .lock()
                    .expect("state")
                    .logins
                    .push((mechanism, p.clone()));
            }
            answer.with_auth_bytes(Bytes::from(bytes))
        }
        Err(why) => {
            state.lock().expect("state").refused_logins += 1;
            answer
                .with_error_code(code::SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(s(&why)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};

    fn binding(name: &str, pattern: i8) -> Binding {
        Binding {
            resource_type: 2,
            name: name.into(),
            pattern,
            principal: "User:a".into(),
            host: "*".into(),
            operation: 3,
            permission: 3,
        }
    }

    #[test]
    fn a_match_filter_finds_the_acls_that_apply_to_a_resource() {
        use acl_enum::*;
        let apply = |b: &Binding| pattern_matches(b, MATCH, Some("acme.orders"));
        assert!(apply(&binding("acme.orders", LITERAL)));
        assert!(apply(&binding("*", LITERAL)));
        assert!(apply(&binding("acme.", PREFIXED)));
        assert!(!apply(&binding("acme.orders.dlq", LITERAL)));
        assert!(!apply(&binding("acme.orders.", PREFIXED)));
        assert!(!apply(&binding("acme", LITERAL)));
        // ANY and an exact pattern type are not MATCH.
        assert!(!pattern_matches(
            &binding("*", LITERAL),
            ANY,
            Some("acme.orders")
        ));
        assert!(!pattern_matches(
            &binding("acme.", PREFIXED),
            LITERAL,
            Some("acme.")
        ));
    }

    #[test]
    fn acls_and_topics_the_broker_refuses() {
        let mut b = binding("acme.", acl_enum::PREFIXED);
        assert_eq!(invalid_acl(&b), None);
        b.principal = "analytics".into();
        assert_eq!(invalid_acl(&b), Some("Could not parse principal"));
        let mut c = binding("acme-cluster", acl_enum::LITERAL);
        c.resource_type = acl_enum::CLUSTER;
        assert!(invalid_acl(&c).is_some());
        c.pattern = acl_enum::MATCH;
        c.name = "kafka-cluster".into();
        assert_eq!(invalid_acl(&c), Some("Invalid patternType"));

        let st = State::default();
        let topic = |partitions: i32, rf: i16, config: Option<&str>| {
            CreatableTopic::default()
                .with_num_partitions(partitions)
                .with_replication_factor(rf)
                .with_configs(
                    config
                        .map(|k| CreatableTopicConfig::default().with_name(s(k)))
                        .into_iter()
                        .collect(),
                )
        };
        let error = |name: &str, t: &CreatableTopic| {
            let t = t.clone().with_name(TopicName(s(name)));
            let configs = t
                .configs
                .iter()
                .map(|c| (c.name.to_string(), String::new()))
                .collect();
            invalid_topic(&st, &t, &configs).map(|e| e.0)
        };
        assert_eq!(
            error("acme.orders", &topic(3, 1, Some("retention.ms"))),
            None
        );
        assert_eq!(error("acme.orders", &topic(-1, -1, None)), None);
        assert_eq!(
            error("acme.orders", &topic(3, 3, None)),
            Some(code::INVALID_REPLICATION_FACTOR)
        );
        assert_eq!(
            error("acme.orders", &topic(0, 1, None)),
            Some(code::INVALID_PARTITIONS)
        );
        assert_eq!(
            error("acme.orders", &topic(1, 1, Some("retention.msec"))),
            Some(code::INVALID_CONFIG)
        );
        assert_eq!(
            error("acme orders", &topic(1, 1, None)),
            Some(code::INVALID_TOPIC_EXCEPTION)
        );
        assert_eq!(
            error("..", &topic(1, 1, None)),
            Some(code::INVALID_TOPIC_EXCEPTION)
        );
    }
}
