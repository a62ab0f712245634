//! Generators of manifests for the property tests: every shape of value the model has.
#![allow(dead_code)]

use std::collections::BTreeMap;

use falconer::domains::{Spec, functions as fnd, iam, kafka, mongo, postgres as pg, storage};
use falconer::manifest::{Manifest, Resource};
use falconer::model::{SecretValue, Tenant};
use proptest::prelude::*;
use serde_json::Value;

pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_.-]{0,12}",
        "[ -~]{0,16}",
        "[a-zA-Zé日本 \\n\\t\\r\"'#{}();=/\\\\$-]{0,12}",
        Just("true".to_string()),
        Just("1.5".to_string()),
        Just("#null".to_string()),
        Just(String::new()),
    ]
}

pub fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z][a-z0-9_-]{0,10}", "[a-zA-Z][a-zA-Z0-9 .é-]{0,10}"]
}

pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-zA-Z0-9_]{0,8}",
        "[a-z]{1,4}\\.[a-z]{1,4}",
        Just("$exists".to_string()),
        Just("-".to_string()),
        Just("with space".to_string()),
        Just("日本".to_string()),
        Just("type".to_string()),
    ]
}

pub fn json(nulls: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1000i64..1000).prop_map(|n| Value::from(n as f64 / 4.0 + 0.25)),
        text().prop_map(Value::from),
        Just(if nulls { Value::Null } else { Value::from(0) }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub fn json_object(nulls: bool) -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key(), json(nulls), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

pub fn secret() -> impl Strategy<Value = SecretValue> {
    prop_oneof![
        "[A-Z][A-Z0-9_]{0,10}".prop_map(SecretValue::Env),
        "[a-z/._-]{1,12}".prop_map(SecretValue::File),
        Just(SecretValue::redacted()),
        Just(SecretValue::Redacted("**********".into())),
        text()
            .prop_filter("not a marker", |t| !falconer::model::secret::is_marker(t))
            .prop_map(SecretValue::Plain),
    ]
}

pub fn strings(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..max)
}

pub fn str_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), text(), 0..3)
}

pub fn column() -> impl Strategy<Value = pg::Column> {
    (
        name(),
        prop_oneof![
            Just("bigint".to_string()),
            Just("text[]".to_string()),
            text()
        ],
        any::<Option<bool>>(),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            Just(pg::IdentityKind::Always),
            Just(pg::IdentityKind::ByDefault)
        ]),
        prop::option::of(text()),
    )
        .prop_map(
            |(name, ty, nullable, default, identity, comment)| pg::Column {
                name,
                ty,
                nullable,
                default,
                identity,
                identity_options: None,
                generated: None,
                collation: None,
                comment,
                owns_sequence: None,
                renamed_from: None,
            },
        )
}

pub fn table() -> impl Strategy<Value = Spec> {
    (
        name(),
        name(),
        prop::collection::vec(column(), 0..4),
        prop::option::of(strings(3)),
        prop::collection::vec((prop::option::of(name()), strings(3)), 0..2),
        prop::collection::vec((name(), text()), 0..2),
        any::<Option<bool>>(),
        prop::option::of(text()),
    )
        .prop_map(
            |(name, schema, column, pk, uniques, checks, rls, comment)| {
                Spec::PgTable(pg::Table {
                    name,
                    schema,
                    comment,
                    column,
                    primary_key: pk.map(|columns| pg::PrimaryKey {
                        name: None,
                        columns,
                    }),
                    unique: uniques
                        .into_iter()
                        .map(|(name, columns)| pg::Unique {
                            name,
                            columns,
                            nulls_not_distinct: None,
                        })
                        .collect(),
                    exclude: Vec::new(),
                    unlogged: None,
                    storage: Default::default(),
                    check: checks
                        .into_iter()
                        .map(|(name, expression)| pg::Check { name, expression })
                        .collect(),
                    foreign_key: vec![pg::ForeignKey {
                        name: None,
                        columns: vec!["a".into()],
                        references: pg::FkTarget {
                            table: "t".into(),
                            schema: None,
                            columns: vec![],
                        },
                        on_delete: Some(pg::FkAction::SetNull),
                        on_update: None,
                        deferrable: None,
                        initially_deferred: None,
                    }],
                    row_level_security: rls,
                    force_row_level_security: None,
                    owner: None,
                    partition_by: None,
                    partition_of: None,
                    partition_bound: None,
                    renamed_from: None,
                    depends_on: vec![],
                })
            },
        )
}

pub fn index_key() -> impl Strategy<Value = pg::IndexKey> {
    prop_oneof![
        name().prop_map(|c| pg::IndexKey {
            column: Some(c),
            ..Default::default()
        }),
        (text(), any::<bool>()).prop_map(|(e, desc)| pg::IndexKey {
            expression: Some(e),
            order: desc.then_some(pg::SortOrder::Desc),
            ..Default::default()
        }),
    ]
}

pub fn pg_index() -> impl Strategy<Value = Spec> {
    (
        name(),
        name(),
        prop::collection::vec(index_key(), 0..4),
        prop::option::of(text()),
        strings(2),
    )
        .prop_map(|(name, table, columns, predicate, include)| {
            Spec::PgIndex(pg::Index {
                name,
                schema: "s".into(),
                table,
                columns,
                unique: Some(true),
                method: Some(pg::IndexMethod::Gin),
                include,
                predicate,
                nulls_not_distinct: None,
                comment: None,
                depends_on: vec!["postgres.table.s.t".into()],
            })
        })
}

pub fn collection(nulls: bool) -> impl Strategy<Value = Spec> {
    (
        name(),
        prop::option::of(json_object(nulls)),
        prop::collection::vec(json_object(nulls), 0..3),
        prop::option::of((1u64..1 << 40, prop::option::of(any::<u32>()))),
    )
        .prop_map(|(name, validator, pipeline, capped)| {
            Spec::MongoCollection(mongo::Collection {
                name,
                database: "db".into(),
                validator,
                validation_level: Some(mongo::ValidationLevel::Moderate),
                validation_action: None,
                capped: capped.map(|(size, max)| mongo::Capped {
                    size,
                    max: max.map(u64::from),
                }),
                collation: None,
                view_on: None,
                pipeline,
                timeseries: None,
                expire_after_seconds: None,
                clustered: None,
                change_stream_pre_and_post_images: None,
                depends_on: vec![],
            })
        })
}

pub fn mongo_index(nulls: bool) -> impl Strategy<Value = Spec> {
    let dir = prop_oneof![
        Just(mongo::IndexDirection::Asc),
        Just(mongo::IndexDirection::Desc),
        Just(mongo::IndexDirection::Text),
        Just(mongo::IndexDirection::Hashed),
        Just(mongo::IndexDirection::Sphere2d),
    ];
    (
        prop::option::of(name()),
        prop::collection::vec((key(), dir), 1..4),
        prop::option::of(json_object(nulls)),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(name, keys, pfe, ttl)| {
            let key: Vec<mongo::IndexField> = keys
                .into_iter()
                .map(|(field, order)| mongo::IndexField { field, order })
                .collect();
            let mut i = mongo::Index {
                name,
                database: "db".into(),
                collection: "c".into(),
                key,
                unique: None,
                sparse: Some(false),
                partial_filter_expression: pfe,
                expire_after_seconds: ttl,
                collation: None,
                hidden: None,
                depends_on: vec![],
            };
            i.name = Some(i.effective_name());
            Spec::MongoIndex(i)
        })
}

pub fn topic() -> impl Strategy<Value = Spec> {
    (
        name(),
        any::<u32>(),
        prop::option::of(any::<i16>()),
        prop::collection::btree_map(key(), text(), 0..4),
    )
        .prop_map(|(name, partitions, replication_factor, config)| {
            Spec::KafkaTopic(kafka::Topic {
                name,
                partitions,
                replication_factor,
                config: config
                    .into_iter()
                    .map(|(k, v)| (k, kafka::ConfigValue(v)))
                    .collect(),
                depends_on: vec![],
            })
        })
}

pub fn acl() -> impl Strategy<Value = Spec> {
    (text(), text(), prop::option::of(text())).prop_map(|(resource_name, principal, host)| {
        Spec::KafkaAcl(kafka::Acl {
            resource_name,
            resource_type: kafka::AclResource::TransactionalId,
            pattern_type: Some(kafka::PatternType::Prefixed),
            principal,
            host,
            operation: kafka::AclOperation::DescribeConfigs,
            permission: kafka::AclPermission::Deny,
            depends_on: vec![],
        })
    })
}

pub fn parameter(nulls: bool) -> impl Strategy<Value = fnd::Parameter> {
    prop_oneof![
        (key(), json(nulls)).prop_map(|(key, v)| fnd::Parameter {
            key,
            value: Some(v),
            secret: None
        }),
        (key(), secret()).prop_map(|(key, s)| fnd::Parameter {
            key,
            value: None,
            secret: Some(s)
        }),
    ]
}

pub fn action(nulls: bool) -> impl Strategy<Value = Spec> {
    let code = prop_oneof![
        text().prop_map(fnd::Code::Inline),
        "[a-z/]{1,10}\\.js".prop_map(fnd::Code::File),
        "[A-Za-z0-9+/]{0,12}".prop_map(fnd::Code::Base64),
    ];
    (
        name(),
        prop::option::of(name()),
        prop::option::of(code),
        prop::collection::vec(parameter(nulls), 0..3),
        prop::collection::btree_map(key(), json(nulls), 0..3),
        prop::option::of((
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()),
        )),
        strings(3),
    )
        .prop_map(
            |(name, package, code, parameter, annotations, limits, components)| {
                Spec::FnAction(fnd::Action {
                    name,
                    package,
                    kind: "nodejs:20".into(),
                    code,
                    main: None,
                    image: None,
                    binary: None,
                    components,
                    limits: limits.map(|(timeout, memory)| fnd::Limits {
                        timeout,
                        memory,
                        logs: None,
                        concurrency: None,
                    }),
                    parameter,
                    annotations,
                    require_whisk_auth: None,
                    require_whisk_auth_token: None,
                    depends_on: vec![],
                })
            },
        )
}

pub fn bucket(nulls: bool) -> impl Strategy<Value = Spec> {
    (
        name(),
        prop::option::of(json_object(nulls)),
        str_map(),
        prop::collection::vec(
            (
                name(),
                prop::option::of(text()),
                str_map(),
                prop::option::of(1u32..400),
            ),
            0..3,
        ),
        prop::collection::vec(strings(3), 0..2),
    )
        .prop_map(|(name, policy, tags, rules, cors)| {
            Spec::StorageBucket(storage::Bucket {
                name,
                region: None,
                versioning: Some(storage::Versioning::Suspended),
                lifecycle_rule: rules
                    .into_iter()
                    .map(|(id, prefix, tags, days)| storage::LifecycleRule {
                        id,
                        status: Some(storage::RuleStatus::Disabled),
                        filter: Some(storage::LifecycleFilter {
                            prefix,
                            tags,
                            object_size_greater_than: None,
                            object_size_less_than: None,
                        }),
                        expiration: days.map(|d| storage::Expiration {
                            days: Some(d),
                            date: None,
                            expired_object_delete_marker: None,
                        }),
                        noncurrent_version_expiration: None,
                        abort_incomplete_multipart_upload_days: None,
                        transition: vec![],
                        noncurrent_version_transition: vec![],
                    })
                    .collect(),
                cors_rule: cors
                    .into_iter()
                    .map(|origins| storage::CorsRule {
                        id: None,
                        allowed_origins: origins,
                        allowed_methods: vec![storage::HttpMethod::Head],
                        allowed_headers: vec![],
                        expose_headers: vec![],
                        max_age_seconds: Some(0),
                    })
                    .collect(),
                policy,
                tags,
                encryption: Some(storage::Encryption {
                    algorithm: storage::SseAlgorithm::AwsKms,
                    kms_key_id: Some("k".into()),
                    bucket_key_enabled: None,
                }),
                public_access_block: Some(storage::protection::PublicAccessBlock {
                    block_public_acls: true,
                    ..Default::default()
                }),
                ownership: Some(storage::protection::Ownership::ObjectWriter),
                object_lock: Some(storage::protection::ObjectLock {
                    mode: Some(storage::protection::LockMode::Governance),
                    days: Some(1),
                    years: None,
                }),
                request_payer: Some(storage::transfer::Payer::Requester),
                accelerate: Some(true),
                depends_on: vec![],
                objects: None,
            })
        })
}

pub fn role_set() -> impl Strategy<Value = iam::RoleSet> {
    (
        strings(3),
        prop::collection::btree_map(key(), strings(3), 0..3),
    )
        .prop_map(|(realm, client)| iam::RoleSet { realm, client })
}

pub fn client() -> impl Strategy<Value = Spec> {
    (
        name(),
        prop::option::of(secret()),
        strings(3),
        prop::option::of(strings(3)),
        str_map(),
        prop::collection::vec((name(), text(), str_map()), 0..3),
        prop::collection::vec((name(), prop::option::of(role_set())), 0..3),
        prop::option::of(role_set()),
    )
        .prop_map(
            |(
                client_id,
                secret,
                redirect_uris,
                default_client_scopes,
                attributes,
                mappers,
                roles,
                sa,
            )| {
                Spec::IamClient(iam::Client {
                    client_id,
                    name: None,
                    description: None,
                    enabled: Some(false),
                    protocol: Some(iam::Protocol::Saml),
                    public_client: None,
                    bearer_only: None,
                    secret,
                    root_url: None,
                    base_url: None,
                    admin_url: None,
                    redirect_uris,
                    web_origins: vec![],
                    standard_flow_enabled: None,
                    implicit_flow_enabled: None,
                    direct_access_grants_enabled: None,
                    service_accounts_enabled: None,
                    consent_required: None,
                    full_scope_allowed: None,
                    frontchannel_logout: None,
                    attributes,
                    default_client_scopes,
                    optional_client_scopes: Some(vec![]),
                    authentication_flow_overrides: Default::default(),
                    protocol_mapper: mappers
                        .into_iter()
                        .map(|(name, protocol_mapper, config)| iam::ProtocolMapper {
                            name,
                            protocol: None,
                            protocol_mapper,
                            config,
                        })
                        .collect(),
                    role: roles
                        .into_iter()
                        .map(|(name, composites)| iam::ClientRole {
                            name,
                            description: None,
                            composites,
                            attributes: BTreeMap::new(),
                        })
                        .collect(),
                    service_account_roles: sa,
                    depends_on: vec![],
                })
            },
        )
}

pub fn group() -> impl Strategy<Value = Spec> {
    (
        name(),
        prop::option::of(name()),
        prop::collection::btree_map(key(), strings(3), 0..3),
        strings(3),
    )
        .prop_map(|(name, parent, attributes, realm_roles)| {
            Spec::IamGroup(iam::Group {
                name,
                parent,
                attributes,
                realm_roles,
                client_roles: BTreeMap::new(),
                default: None,
                depends_on: vec![],
            })
        })
}

pub fn spec(nulls: bool) -> impl Strategy<Value = Spec> {
    prop_oneof![
        table(),
        pg_index(),
        collection(nulls),
        mongo_index(nulls),
        topic(),
        acl(),
        action(nulls),
        bucket(nulls),
        client(),
        group(),
    ]
}

pub fn manifest(nulls: bool) -> impl Strategy<Value = Manifest> {
    (
        "[a-z][a-z0-9-]{0,8}",
        prop::collection::vec(spec(nulls), 0..5),
    )
        .prop_map(|(id, specs)| {
            let mut m = Manifest::new(Tenant::new(id));
            m.tenant.naming.set(
                &falconer::domains::kafka::TOPIC_PREFIX_SCOPE,
                vec!["x.".into()],
            );
            m.resources = specs
                .into_iter()
                .map(|spec| Resource { spec, span: None })
                .collect();
            m
        })
}
