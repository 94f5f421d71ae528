-- IIB 9.5's PostgreSQL schema: the tables, columns, keys and indexes left by IIB's Alembic
-- migrations 274ba38408e8 (initial) .. 691c5d6465a0 (multiple FBC fragments, the head of IIB
-- 9.5.x), written by hand from iib/web/migrations/versions/*.py, in the order the migrations
-- create them (columns added by later migrations are folded into their CREATE TABLE).

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('691c5d6465a0');

CREATE TABLE architecture (
    id SERIAL NOT NULL,
    name VARCHAR NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);

CREATE TABLE operator (
    id SERIAL NOT NULL,
    name VARCHAR NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);
CREATE UNIQUE INDEX ix_operator_name ON operator (name);

CREATE TABLE image (
    id SERIAL NOT NULL,
    operator_id INTEGER,
    pull_specification VARCHAR NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (operator_id) REFERENCES operator (id),
    UNIQUE (pull_specification)
);
CREATE UNIQUE INDEX ix_image_pull_specification ON image (pull_specification);

CREATE TABLE "user" (
    id SERIAL NOT NULL,
    username VARCHAR NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_user_username ON "user" (username);

-- 56d96595c0f7 (batches), 71c998c1c210 (annotations)
CREATE TABLE batch (
    id SERIAL NOT NULL,
    annotations TEXT,
    PRIMARY KEY (id)
);

-- 274ba38408e8, less the columns 04dd7532d9c5 moved to the per-type tables
CREATE TABLE request (
    id SERIAL NOT NULL,
    type INTEGER NOT NULL,
    user_id INTEGER,
    request_state_id INTEGER,
    batch_id INTEGER NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY (user_id) REFERENCES "user" (id),
    CONSTRAINT request_batch_id_fk FOREIGN KEY (batch_id) REFERENCES batch (id)
);
CREATE UNIQUE INDEX ix_request_request_state_id ON request (request_state_id);
CREATE INDEX ix_request_batch_id ON request (batch_id);

CREATE TABLE request_architecture (
    request_id INTEGER NOT NULL,
    architecture_id INTEGER NOT NULL,
    FOREIGN KEY (architecture_id) REFERENCES architecture (id),
    FOREIGN KEY (request_id) REFERENCES request (id),
    PRIMARY KEY (request_id, architecture_id),
    UNIQUE (request_id, architecture_id)
);
CREATE INDEX ix_request_architecture_architecture_id ON request_architecture (architecture_id);
CREATE INDEX ix_request_architecture_request_id ON request_architecture (request_id);

CREATE TABLE request_state (
    id SERIAL NOT NULL,
    request_id INTEGER NOT NULL,
    state INTEGER NOT NULL,
    state_reason VARCHAR NOT NULL,
    updated TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    FOREIGN KEY (request_id) REFERENCES request (id),
    PRIMARY KEY (id)
);
CREATE INDEX ix_request_state_request_id ON request_state (request_id);
ALTER TABLE request ADD CONSTRAINT fk_request_state_id
    FOREIGN KEY (request_state_id) REFERENCES request_state (id);

-- 04dd7532d9c5, 2ab3d4558cb6, bc29053265ba, 60f89c046096, 9d60d35786c1, 3283f52e7329,
-- daf67ddcf4a1, 7346beaff092
CREATE TABLE request_add (
    id INTEGER NOT NULL,
    organization VARCHAR,
    binary_image_id INTEGER,
    binary_image_resolved_id INTEGER,
    from_index_id INTEGER,
    from_index_resolved_id INTEGER,
    index_image_id INTEGER,
    omps_operator_version VARCHAR,
    distribution_scope VARCHAR,
    index_image_resolved_id INTEGER,
    internal_index_image_copy_id INTEGER,
    internal_index_image_copy_resolved_id INTEGER,
    graph_update_mode VARCHAR,
    check_related_images BOOLEAN,
    FOREIGN KEY (binary_image_id) REFERENCES image (id),
    FOREIGN KEY (binary_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (from_index_id) REFERENCES image (id),
    FOREIGN KEY (from_index_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (index_image_id) REFERENCES image (id),
    CONSTRAINT index_image_resolved_id_fkey FOREIGN KEY (index_image_resolved_id) REFERENCES image (id),
    CONSTRAINT internal_index_image_copy_id_fkey FOREIGN KEY (internal_index_image_copy_id) REFERENCES image (id),
    CONSTRAINT internal_index_image_copy_resolved_id_fkey FOREIGN KEY (internal_index_image_copy_resolved_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

CREATE TABLE request_add_bundle (
    request_add_id INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    FOREIGN KEY (image_id) REFERENCES image (id),
    FOREIGN KEY (request_add_id) REFERENCES request_add (id),
    PRIMARY KEY (request_add_id, image_id),
    UNIQUE (request_add_id, image_id)
);
CREATE INDEX ix_request_add_bundle_image_id ON request_add_bundle (image_id);
CREATE INDEX ix_request_add_bundle_request_add_id ON request_add_bundle (request_add_id);

-- 04dd7532d9c5, bc29053265ba, 60f89c046096, 9d60d35786c1, 3283f52e7329
CREATE TABLE request_rm (
    id INTEGER NOT NULL,
    binary_image_id INTEGER,
    binary_image_resolved_id INTEGER,
    from_index_id INTEGER NOT NULL,
    from_index_resolved_id INTEGER,
    index_image_id INTEGER,
    distribution_scope VARCHAR,
    index_image_resolved_id INTEGER,
    internal_index_image_copy_id INTEGER,
    internal_index_image_copy_resolved_id INTEGER,
    FOREIGN KEY (binary_image_id) REFERENCES image (id),
    FOREIGN KEY (binary_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (from_index_id) REFERENCES image (id),
    FOREIGN KEY (from_index_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (index_image_id) REFERENCES image (id),
    CONSTRAINT index_image_resolved_id_fkey FOREIGN KEY (index_image_resolved_id) REFERENCES image (id),
    CONSTRAINT internal_index_image_copy_resolved_id_fkey FOREIGN KEY (internal_index_image_copy_resolved_id) REFERENCES image (id),
    CONSTRAINT internal_index_image_copy_id_fkey FOREIGN KEY (internal_index_image_copy_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

CREATE TABLE request_rm_operator (
    request_rm_id INTEGER NOT NULL,
    operator_id INTEGER NOT NULL,
    FOREIGN KEY (operator_id) REFERENCES operator (id),
    FOREIGN KEY (request_rm_id) REFERENCES request_rm (id),
    PRIMARY KEY (request_rm_id, operator_id),
    UNIQUE (request_rm_id, operator_id)
);
CREATE INDEX ix_request_rm_operator_operator_id ON request_rm_operator (operator_id);
CREATE INDEX ix_request_rm_operator_request_rm_id ON request_rm_operator (request_rm_id);

-- 5d6808c0ce1f, a0eadb516360
CREATE TABLE request_regenerate_bundle (
    id INTEGER NOT NULL,
    bundle_image_id INTEGER,
    from_bundle_image_id INTEGER NOT NULL,
    from_bundle_image_resolved_id INTEGER,
    organization VARCHAR,
    bundle_replacements VARCHAR,
    FOREIGN KEY (bundle_image_id) REFERENCES image (id),
    FOREIGN KEY (from_bundle_image_id) REFERENCES image (id),
    FOREIGN KEY (from_bundle_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    PRIMARY KEY (id)
);

-- 4c9db41195ec, 983a81fe5e98, 60f89c046096, 9e9d4f9730c8, 1920ad83d0ab
CREATE TABLE request_merge_index_image (
    id INTEGER NOT NULL,
    binary_image_id INTEGER,
    binary_image_resolved_id INTEGER,
    index_image_id INTEGER,
    source_from_index_id INTEGER NOT NULL,
    source_from_index_resolved_id INTEGER,
    target_index_id INTEGER,
    target_index_resolved_id INTEGER,
    distribution_scope VARCHAR,
    graph_update_mode VARCHAR,
    ignore_bundle_ocp_version BOOLEAN,
    FOREIGN KEY (binary_image_id) REFERENCES image (id),
    FOREIGN KEY (binary_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (index_image_id) REFERENCES image (id),
    FOREIGN KEY (source_from_index_id) REFERENCES image (id),
    FOREIGN KEY (source_from_index_resolved_id) REFERENCES image (id),
    FOREIGN KEY (target_index_id) REFERENCES image (id),
    FOREIGN KEY (target_index_resolved_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

-- 4c9db41195ec as bundle_deprecation, renamed by 7573241a5156
CREATE TABLE request_merge_bundle_deprecation (
    merge_index_image_id INTEGER NOT NULL,
    bundle_id INTEGER NOT NULL,
    FOREIGN KEY (bundle_id) REFERENCES image (id),
    FOREIGN KEY (merge_index_image_id) REFERENCES request_merge_index_image (id),
    PRIMARY KEY (merge_index_image_id, bundle_id),
    CONSTRAINT merge_index_bundle_constraint UNIQUE (merge_index_image_id, bundle_id)
);
CREATE INDEX ix_request_merge_bundle_deprecation_bundle_id
    ON request_merge_bundle_deprecation (bundle_id);
CREATE INDEX ix_request_merge_bundle_deprecation_merge_index_image_id
    ON request_merge_bundle_deprecation (merge_index_image_id);

-- eec630370e68
CREATE TABLE request_add_bundle_deprecation (
    request_add_id INTEGER NOT NULL,
    bundle_id INTEGER NOT NULL,
    FOREIGN KEY (bundle_id) REFERENCES image (id),
    FOREIGN KEY (request_add_id) REFERENCES request_add (id),
    PRIMARY KEY (request_add_id, bundle_id),
    CONSTRAINT request_add_bundle_deprecation_constraint UNIQUE (request_add_id, bundle_id)
);
CREATE INDEX ix_request_add_bundle_deprecation_bundle_id
    ON request_add_bundle_deprecation (bundle_id);
CREATE INDEX ix_request_add_bundle_deprecation_request_add_id
    ON request_add_bundle_deprecation (request_add_id);

-- e16a8cd2e028, 5188702409d9 (from_index_id nullable), 3283f52e7329
CREATE TABLE request_create_empty_index (
    id INTEGER NOT NULL,
    from_index_id INTEGER,
    binary_image_id INTEGER,
    labels TEXT,
    binary_image_resolved_id INTEGER,
    from_index_resolved_id INTEGER,
    index_image_id INTEGER,
    index_image_resolved_id INTEGER,
    distribution_scope VARCHAR,
    internal_index_image_copy_id INTEGER,
    internal_index_image_copy_resolved_id INTEGER,
    FOREIGN KEY (binary_image_id) REFERENCES image (id),
    FOREIGN KEY (binary_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (from_index_id) REFERENCES image (id),
    FOREIGN KEY (from_index_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (index_image_id) REFERENCES image (id),
    FOREIGN KEY (index_image_resolved_id) REFERENCES image (id),
    CONSTRAINT internal_index_image_copy_id_fkey FOREIGN KEY (internal_index_image_copy_id) REFERENCES image (id),
    CONSTRAINT internal_index_image_copy_resolved_id_fkey FOREIGN KEY (internal_index_image_copy_resolved_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

-- 5188702409d9
CREATE TABLE build_tag (
    id SERIAL NOT NULL,
    name VARCHAR NOT NULL,
    PRIMARY KEY (id)
);
CREATE TABLE request_build_tag (
    request_id INTEGER NOT NULL,
    tag_id INTEGER NOT NULL,
    FOREIGN KEY (request_id) REFERENCES request (id),
    FOREIGN KEY (tag_id) REFERENCES build_tag (id),
    PRIMARY KEY (request_id, tag_id),
    UNIQUE (request_id, tag_id)
);
CREATE INDEX ix_request_build_tag_request_id ON request_build_tag (request_id);
CREATE INDEX ix_request_build_tag_tag_id ON request_build_tag (tag_id);

-- 625fba6081be
CREATE TABLE request_recursive_related_bundles (
    id INTEGER NOT NULL,
    parent_bundle_image_id INTEGER,
    parent_bundle_image_resolved_id INTEGER,
    organization VARCHAR,
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (parent_bundle_image_id) REFERENCES image (id),
    FOREIGN KEY (parent_bundle_image_resolved_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

-- 8d50f82f0be9, 691c5d6465a0 (used_fbc_fragment)
CREATE TABLE request_fbc_operations (
    id INTEGER NOT NULL,
    fbc_fragment_id INTEGER,
    fbc_fragment_resolved_id INTEGER,
    binary_image_id INTEGER,
    binary_image_resolved_id INTEGER,
    from_index_id INTEGER,
    from_index_resolved_id INTEGER,
    index_image_id INTEGER,
    index_image_resolved_id INTEGER,
    internal_index_image_copy_id INTEGER,
    internal_index_image_copy_resolved_id INTEGER,
    distribution_scope VARCHAR,
    used_fbc_fragment BOOLEAN,
    FOREIGN KEY (binary_image_id) REFERENCES image (id),
    FOREIGN KEY (binary_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (fbc_fragment_id) REFERENCES image (id),
    FOREIGN KEY (fbc_fragment_resolved_id) REFERENCES image (id),
    FOREIGN KEY (from_index_id) REFERENCES image (id),
    FOREIGN KEY (from_index_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (index_image_id) REFERENCES image (id),
    FOREIGN KEY (index_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (internal_index_image_copy_id) REFERENCES image (id),
    FOREIGN KEY (internal_index_image_copy_resolved_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

-- 49d13af4b328
CREATE TABLE deprecation_schema (
    id SERIAL NOT NULL,
    schema TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_deprecation_schema_schema ON deprecation_schema (schema);

CREATE TABLE request_add_deprecations (
    id INTEGER NOT NULL,
    binary_image_id INTEGER,
    binary_image_resolved_id INTEGER,
    from_index_id INTEGER,
    from_index_resolved_id INTEGER,
    index_image_id INTEGER,
    index_image_resolved_id INTEGER,
    internal_index_image_copy_id INTEGER,
    internal_index_image_copy_resolved_id INTEGER,
    distribution_scope VARCHAR,
    FOREIGN KEY (binary_image_id) REFERENCES image (id),
    FOREIGN KEY (binary_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (from_index_id) REFERENCES image (id),
    FOREIGN KEY (from_index_resolved_id) REFERENCES image (id),
    FOREIGN KEY (id) REFERENCES request (id),
    FOREIGN KEY (index_image_id) REFERENCES image (id),
    FOREIGN KEY (index_image_resolved_id) REFERENCES image (id),
    FOREIGN KEY (internal_index_image_copy_id) REFERENCES image (id),
    FOREIGN KEY (internal_index_image_copy_resolved_id) REFERENCES image (id),
    PRIMARY KEY (id)
);

CREATE TABLE request_add_deprecations_deprecation_schema (
    request_add_deprecations_id INTEGER NOT NULL,
    deprecation_schema_id INTEGER NOT NULL,
    FOREIGN KEY (deprecation_schema_id) REFERENCES deprecation_schema (id),
    FOREIGN KEY (request_add_deprecations_id) REFERENCES request_add_deprecations (id),
    PRIMARY KEY (request_add_deprecations_id, deprecation_schema_id),
    UNIQUE (request_add_deprecations_id, deprecation_schema_id)
);
CREATE INDEX ix_request_add_deprecations_deprecation_schema_deprecation_schema_id
    ON request_add_deprecations_deprecation_schema (deprecation_schema_id);
CREATE INDEX ix_request_add_deprecations_deprecation_schema_request_add_deprecations_id
    ON request_add_deprecations_deprecation_schema (request_add_deprecations_id);

CREATE TABLE request_add_deprecations_operator (
    request_add_deprecations_id INTEGER NOT NULL,
    operator_id INTEGER NOT NULL,
    FOREIGN KEY (operator_id) REFERENCES operator (id),
    FOREIGN KEY (request_add_deprecations_id) REFERENCES request_add_deprecations (id),
    PRIMARY KEY (request_add_deprecations_id, operator_id),
    UNIQUE (request_add_deprecations_id, operator_id)
);
CREATE INDEX ix_request_add_deprecations_operator_operator_id
    ON request_add_deprecations_operator (operator_id);
CREATE INDEX ix_request_add_deprecations_operator_request_add_deprecations_id
    ON request_add_deprecations_operator (request_add_deprecations_id);

-- 691c5d6465a0
CREATE TABLE request_fbc_operations_fragment (
    request_fbc_operations_id INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    FOREIGN KEY (image_id) REFERENCES image (id),
    FOREIGN KEY (request_fbc_operations_id) REFERENCES request_fbc_operations (id),
    PRIMARY KEY (request_fbc_operations_id, image_id),
    UNIQUE (request_fbc_operations_id, image_id)
);
CREATE INDEX ix_request_fbc_operations_fragment_image_id
    ON request_fbc_operations_fragment (image_id);
CREATE INDEX ix_request_fbc_operations_fragment_request_fbc_operations_id
    ON request_fbc_operations_fragment (request_fbc_operations_id);

CREATE TABLE request_fbc_operations_fragment_resolved (
    request_fbc_operations_id INTEGER NOT NULL,
    image_id INTEGER NOT NULL,
    FOREIGN KEY (image_id) REFERENCES image (id),
    FOREIGN KEY (request_fbc_operations_id) REFERENCES request_fbc_operations (id),
    PRIMARY KEY (request_fbc_operations_id, image_id),
    UNIQUE (request_fbc_operations_id, image_id)
);
CREATE INDEX ix_request_fbc_operations_fragment_resolved_image_id
    ON request_fbc_operations_fragment_resolved (image_id);
CREATE INDEX ix_request_fbc_operations_fragment_resolved_request_fbc_operations_id
    ON request_fbc_operations_fragment_resolved (request_fbc_operations_id);
