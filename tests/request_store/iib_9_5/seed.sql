-- Requests of every type in an IIB 9.5 database (schema.sql), as IIB's REST API and workers
-- leave them: the rows of iib/web/models.py (a request row plus its type's table, the
-- association tables, the state rows with request.request_state_id on the current one).
-- builds.json holds what IIB's GET /builds/<id> answers for each (written from the models'
-- to_json). Ids are sparse on purpose; 4242 is the highest request, 4000 the highest batch.

INSERT INTO "user" (id, username) VALUES (1, 'tbrady@DOMAIN.LOCAL'), (2, 'release-bot@REDHAT.COM');
INSERT INTO operator (id, name) VALUES (1, 'keda'), (2, 'cert-utils-operator'), (3, 'redis-operator');
INSERT INTO architecture (id, name) VALUES (1, 's390x'), (2, 'amd64'), (3, 'arm64');
INSERT INTO build_tag (id, name) VALUES (1, 'v4.15-latest'), (2, 'extra');
INSERT INTO deprecation_schema (id, schema) VALUES
    (1, '{"schema":"olm.deprecations","package":"keda","entries":[{"reference":{"schema":"olm.package"},"message":"keda is deprecated"}]}');
INSERT INTO batch (id, annotations) VALUES
    (3, NULL),
    (4, '{"a": 1, "pipeline": "release-42"}'),
    (5, NULL), (6, NULL), (7, NULL), (8, NULL), (9, NULL), (10, NULL), (11, NULL), (12, NULL),
    (13, NULL), (4000, NULL);

-- images: bundles 7 and 8 are keda's, 9 cert-utils-operator's (image.operator_id), 10 and 13 none
INSERT INTO image (id, operator_id, pull_specification) VALUES (1, NULL, 'registry.example.com/opm:v4.15');
INSERT INTO image (id, operator_id, pull_specification) VALUES (2, NULL, 'registry.example.com/opm@sha256:1111111111111111111111111111111111111111111111111111111111111111');
INSERT INTO image (id, operator_id, pull_specification) VALUES (3, NULL, 'quay.example.com/ns/index:v4.15');
INSERT INTO image (id, operator_id, pull_specification) VALUES (4, NULL, 'quay.example.com/ns/index@sha256:2222222222222222222222222222222222222222222222222222222222222222');
INSERT INTO image (id, operator_id, pull_specification) VALUES (5, NULL, 'registry.example.com/iib-build:7');
INSERT INTO image (id, operator_id, pull_specification) VALUES (6, NULL, 'registry.example.com/iib-build@sha256:3333333333333333333333333333333333333333333333333333333333333333');
INSERT INTO image (id, operator_id, pull_specification) VALUES (7, 1, 'quay.example.com/ns/keda-bundle:1.5.0');
INSERT INTO image (id, operator_id, pull_specification) VALUES (8, 1, 'quay.example.com/ns/keda-bundle:1.4.1');
INSERT INTO image (id, operator_id, pull_specification) VALUES (9, 2, 'quay.example.com/ns/cert-utils-bundle:1.0');
INSERT INTO image (id, operator_id, pull_specification) VALUES (10, NULL, 'quay.example.com/ns/unmapped-bundle:0.1');
INSERT INTO image (id, operator_id, pull_specification) VALUES (11, NULL, 'registry.example.com/iib-build:13');
INSERT INTO image (id, operator_id, pull_specification) VALUES (12, NULL, 'registry.example.com/iib-build@sha256:4444444444444444444444444444444444444444444444444444444444444444');
INSERT INTO image (id, operator_id, pull_specification) VALUES (13, NULL, 'quay.example.com/ns/redis-bundle:2.0');
INSERT INTO image (id, operator_id, pull_specification) VALUES (14, NULL, 'quay.example.com/ns/redis-bundle@sha256:5555555555555555555555555555555555555555555555555555555555555555');
INSERT INTO image (id, operator_id, pull_specification) VALUES (15, NULL, 'registry.example.com/iib-regenerate-bundle:20');
INSERT INTO image (id, operator_id, pull_specification) VALUES (16, NULL, 'quay.example.com/ns/source-index:v4.14');
INSERT INTO image (id, operator_id, pull_specification) VALUES (17, NULL, 'quay.example.com/ns/source-index@sha256:6666666666666666666666666666666666666666666666666666666666666666');
INSERT INTO image (id, operator_id, pull_specification) VALUES (18, NULL, 'quay.example.com/ns/target-index:v4.15');
INSERT INTO image (id, operator_id, pull_specification) VALUES (19, NULL, 'quay.example.com/ns/target-index@sha256:7777777777777777777777777777777777777777777777777777777777777777');
INSERT INTO image (id, operator_id, pull_specification) VALUES (20, NULL, 'registry.example.com/iib-build:30');
INSERT INTO image (id, operator_id, pull_specification) VALUES (21, NULL, 'registry.example.com/iib-build:31');
INSERT INTO image (id, operator_id, pull_specification) VALUES (22, NULL, 'registry.example.com/iib-build@sha256:8888888888888888888888888888888888888888888888888888888888888888');
INSERT INTO image (id, operator_id, pull_specification) VALUES (23, NULL, 'quay.example.com/ns/parent-bundle:3.1');
INSERT INTO image (id, operator_id, pull_specification) VALUES (24, NULL, 'quay.example.com/ns/parent-bundle@sha256:9999999999999999999999999999999999999999999999999999999999999999');
INSERT INTO image (id, operator_id, pull_specification) VALUES (25, NULL, 'quay.example.com/ns/fragment-a:v1');
INSERT INTO image (id, operator_id, pull_specification) VALUES (26, NULL, 'quay.example.com/ns/fragment-a@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
INSERT INTO image (id, operator_id, pull_specification) VALUES (27, NULL, 'quay.example.com/ns/fragment-b:v1');
INSERT INTO image (id, operator_id, pull_specification) VALUES (28, NULL, 'quay.example.com/ns/fragment-b@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
INSERT INTO image (id, operator_id, pull_specification) VALUES (29, NULL, 'registry.example.com/iib-build:50');
INSERT INTO image (id, operator_id, pull_specification) VALUES (30, NULL, 'registry.example.com/iib-build:51');
INSERT INTO image (id, operator_id, pull_specification) VALUES (31, NULL, 'registry.example.com/iib-build:60');
INSERT INTO image (id, operator_id, pull_specification) VALUES (32, NULL, 'registry.example.com/iib-build@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc');

-- the requests (their current state is set once the state rows exist)
INSERT INTO request (id, type, user_id, request_state_id, batch_id) VALUES
    (7, 1, 1, NULL, 3),
    (12, 1, 2, NULL, 4),
    (13, 2, 2, NULL, 4),
    (20, 3, 1, NULL, 5),
    (21, 3, NULL, NULL, 6),
    (30, 4, 1, NULL, 7),
    (31, 5, 1, NULL, 8),
    (40, 6, 2, NULL, 9),
    (50, 7, 1, NULL, 10),
    (51, 7, 1, NULL, 11),
    (52, 7, 1, NULL, 12),
    (60, 8, 2, NULL, 13),
    (4242, 1, NULL, NULL, 4000);

-- add 7: bundles (one without an operator), a deprecation list, two arches, two build tags
INSERT INTO request_add (id, organization, binary_image_id, binary_image_resolved_id,
    from_index_id, from_index_resolved_id, index_image_id, omps_operator_version,
    distribution_scope, index_image_resolved_id, internal_index_image_copy_id,
    internal_index_image_copy_resolved_id, graph_update_mode, check_related_images)
VALUES (7, 'acme', 1, 2, 3, 4, 3, '{"keda": "1.5.0"}', 'prod', 4, 5, 6, 'semver', true);
INSERT INTO request_add_bundle (request_add_id, image_id) VALUES (7, 7), (7, 9), (7, 10);
INSERT INTO request_add_bundle_deprecation (request_add_id, bundle_id) VALUES (7, 8);
INSERT INTO request_architecture (request_id, architecture_id) VALUES (7, 1), (7, 2);
INSERT INTO request_build_tag (request_id, tag_id) VALUES (7, 1), (7, 2);

-- batch 4 (annotated): add 12 failed (no binary image: IIB_BINARY_IMAGE_CONFIG), rm 13
INSERT INTO request_add (id, organization, binary_image_id, binary_image_resolved_id,
    from_index_id, from_index_resolved_id, index_image_id, omps_operator_version,
    distribution_scope, index_image_resolved_id, internal_index_image_copy_id,
    internal_index_image_copy_resolved_id, graph_update_mode, check_related_images)
VALUES (12, NULL, NULL, NULL, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO request_add_bundle (request_add_id, image_id) VALUES (12, 13);
INSERT INTO request_rm (id, binary_image_id, binary_image_resolved_id, from_index_id,
    from_index_resolved_id, index_image_id, distribution_scope, index_image_resolved_id,
    internal_index_image_copy_id, internal_index_image_copy_resolved_id)
VALUES (13, 1, 2, 3, 4, 11, 'stage', 12, 11, 12);
INSERT INTO request_rm_operator (request_rm_id, operator_id) VALUES (13, 1), (13, 2);
INSERT INTO request_architecture (request_id, architecture_id) VALUES (13, 2);

-- regenerate-bundle 20 (with replacements) and 21 (anonymous, still in progress)
INSERT INTO request_regenerate_bundle (id, bundle_image_id, from_bundle_image_id,
    from_bundle_image_resolved_id, organization, bundle_replacements)
VALUES (20, 15, 13, 14, 'acme', '{"quay.example.com/ns/redis-bundle:2.0": "quay.example.com/ns/redis-bundle:2.0-1"}'),
       (21, NULL, 13, NULL, NULL, NULL);
INSERT INTO request_architecture (request_id, architecture_id) VALUES (20, 2), (20, 3);

-- merge-index-image 30
INSERT INTO request_merge_index_image (id, binary_image_id, binary_image_resolved_id,
    index_image_id, source_from_index_id, source_from_index_resolved_id, target_index_id,
    target_index_resolved_id, distribution_scope, graph_update_mode, ignore_bundle_ocp_version)
VALUES (30, 1, 2, 20, 16, 17, 18, 19, 'prod', 'replaces', false);
INSERT INTO request_merge_bundle_deprecation (merge_index_image_id, bundle_id) VALUES (30, 8);
INSERT INTO request_build_tag (request_id, tag_id) VALUES (30, 2);
INSERT INTO request_architecture (request_id, architecture_id) VALUES (30, 2);

-- create-empty-index 31
INSERT INTO request_create_empty_index (id, from_index_id, binary_image_id, labels,
    binary_image_resolved_id, from_index_resolved_id, index_image_id, index_image_resolved_id,
    distribution_scope, internal_index_image_copy_id, internal_index_image_copy_resolved_id)
VALUES (31, 3, 1, '{"com.example.team": "olm", "version": "v4.15"}', 2, 4, 21, 22, 'prod', 21, 22);
INSERT INTO request_architecture (request_id, architecture_id) VALUES (31, 2);

-- recursive-related-bundles 40 (failed)
INSERT INTO request_recursive_related_bundles (id, parent_bundle_image_id,
    parent_bundle_image_resolved_id, organization)
VALUES (40, 23, 24, NULL);

-- fbc-operations: 50 submitted with fbc_fragment, 51 with fbc_fragments, 52 from before IIB
-- recorded which (used_fbc_fragment NULL, the single fragment columns set)
INSERT INTO request_fbc_operations (id, fbc_fragment_id, fbc_fragment_resolved_id,
    binary_image_id, binary_image_resolved_id, from_index_id, from_index_resolved_id,
    index_image_id, index_image_resolved_id, internal_index_image_copy_id,
    internal_index_image_copy_resolved_id, distribution_scope, used_fbc_fragment)
VALUES (50, 25, 26, 1, 2, 3, 4, 29, NULL, 29, NULL, 'prod', true),
       (51, NULL, NULL, 1, 2, 3, 4, 30, NULL, 30, NULL, 'prod', false),
       (52, 27, 28, 1, 2, 3, 4, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO request_fbc_operations_fragment (request_fbc_operations_id, image_id) VALUES
    (50, 25), (51, 25), (51, 27);
INSERT INTO request_fbc_operations_fragment_resolved (request_fbc_operations_id, image_id) VALUES
    (50, 26), (51, 26), (51, 28);

-- add-deprecations 60
INSERT INTO request_add_deprecations (id, binary_image_id, binary_image_resolved_id,
    from_index_id, from_index_resolved_id, index_image_id, index_image_resolved_id,
    internal_index_image_copy_id, internal_index_image_copy_resolved_id, distribution_scope)
VALUES (60, 1, 2, 3, 4, 31, 32, 31, 32, 'prod');
INSERT INTO request_add_deprecations_operator (request_add_deprecations_id, operator_id) VALUES (60, 1);
INSERT INTO request_add_deprecations_deprecation_schema (request_add_deprecations_id, deprecation_schema_id)
    VALUES (60, 1);

-- add 4242: the newest request, anonymous, in progress
INSERT INTO request_add (id, organization, binary_image_id, binary_image_resolved_id,
    from_index_id, from_index_resolved_id, index_image_id, omps_operator_version,
    distribution_scope, index_image_resolved_id, internal_index_image_copy_id,
    internal_index_image_copy_resolved_id, graph_update_mode, check_related_images)
VALUES (4242, NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false);
INSERT INTO request_add_bundle (request_add_id, image_id) VALUES (4242, 7);
INSERT INTO request_architecture (request_id, architecture_id) VALUES (4242, 2);

-- state rows (13's rows were written out of time order: IIB sorts them by "updated")
INSERT INTO request_state (id, request_id, state, state_reason, updated) VALUES
    (101, 7, 1, 'The request was initiated', '2024-03-01 10:00:00.123456'),
    (102, 7, 1, 'Building the index image for the following arches: amd64, s390x', '2024-03-01 10:01:02'),
    (103, 7, 2, 'The operator bundle(s) were successfully added to the index image', '2024-03-01 10:05:00.5'),
    (110, 12, 1, 'The request was initiated', '2024-03-02 08:00:00'),
    (111, 13, 1, 'The request was initiated', '2024-03-02 08:00:00'),
    (113, 13, 2, 'The operator(s) were successfully removed from the index image', '2024-03-02 08:09:59.999999'),
    (112, 13, 1, 'Resolving the container images', '2024-03-02 08:07:00'),
    (114, 12, 3, 'Failed to resolve the bundle images', '2024-03-02 08:01:30.25'),
    (120, 20, 1, 'The request was initiated', '2024-04-10 12:00:00.000001'),
    (121, 20, 2, 'The request completed successfully', '2024-04-10 12:03:00'),
    (122, 21, 1, 'The request was initiated', '2024-04-11 09:30:00'),
    (130, 30, 1, 'The request was initiated', '2024-05-01 00:00:00'),
    (131, 30, 2, 'The index image was successfully cleaned and updated.', '2024-05-01 00:20:00'),
    (140, 31, 1, 'The request was initiated', '2024-05-02 00:00:00'),
    (141, 31, 2, 'The index image was successfully created', '2024-05-02 00:02:00'),
    (150, 40, 1, 'The request was initiated', '2024-06-01 00:00:00'),
    (151, 40, 3, 'The maximum number of related bundles exceeded the limit', '2024-06-01 00:00:30'),
    (160, 50, 1, 'The request was initiated', '2024-07-01 00:00:00'),
    (161, 50, 2, 'The FBC fragment was successfully added in the index image', '2024-07-01 00:04:00'),
    (170, 51, 1, 'The request was initiated', '2024-07-02 00:00:00'),
    (171, 51, 2, 'The 2 FBC fragment(s) were successfully added in the index image', '2024-07-02 00:04:00'),
    (180, 52, 1, 'The request was initiated', '2023-01-05 00:00:00'),
    (181, 52, 2, 'The FBC fragment was successfully added in the index image', '2023-01-05 00:03:00'),
    (190, 60, 1, 'The request was initiated', '2024-08-01 00:00:00'),
    (191, 60, 2, 'The deprecation schema was successfully added to the index image', '2024-08-01 00:06:00'),
    (200, 4242, 1, 'The request was initiated', '2024-09-09 09:09:09.909090');

UPDATE request SET request_state_id = CASE id
    WHEN 7 THEN 103 WHEN 12 THEN 114 WHEN 13 THEN 113 WHEN 20 THEN 121 WHEN 21 THEN 122
    WHEN 30 THEN 131 WHEN 31 THEN 141 WHEN 40 THEN 151 WHEN 50 THEN 161 WHEN 51 THEN 171
    WHEN 52 THEN 181 WHEN 60 THEN 191 WHEN 4242 THEN 200 END;

-- the sequences as IIB's inserts leave them
SELECT setval('request_id_seq', 4242);
SELECT setval('batch_id_seq', 4000);
SELECT setval('request_state_id_seq', 200);
SELECT setval('image_id_seq', 32);
SELECT setval('operator_id_seq', 3);
SELECT setval('user_id_seq', 2);
SELECT setval('architecture_id_seq', 3);
SELECT setval('build_tag_id_seq', 2);
SELECT setval('deprecation_schema_id_seq', 1);
