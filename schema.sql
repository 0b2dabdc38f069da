-- Zerentian schema: the source of truth for the tables (DESIGN.md, STYLE.md §2).
-- Written in the subset SQLite and PostgreSQL share; `flask init-db` applies it and
-- reads SERIAL as INTEGER on SQLite. tests/test_schema.py proves the peewee models agree.
-- Timestamps are UTC; dates are business dates in Asia/Shanghai; coordinates are WGS-84.

CREATE TABLE "branch" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "parent_id" INTEGER,
    "kind" TEXT NOT NULL CHECK (kind IN ('union', 'bank', 'branch', 'outlet')),
    "name" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "closed_on" DATE,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("parent_id") REFERENCES "branch" ("id") ON DELETE RESTRICT
);
CREATE INDEX "branch_parent_id" ON "branch" ("parent_id");
CREATE UNIQUE INDEX "branch_code" ON "branch" ("code");
CREATE INDEX "branch_path" ON "branch" ("path");

CREATE TABLE "user" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "phone" TEXT,
    "role" TEXT NOT NULL CHECK (role IN ('manager', 'team_lead', 'management', 'admin')),
    "branch_id" INTEGER NOT NULL,
    "business_line" TEXT CHECK (business_line IN ('retail', 'micro', 'agri', 'corporate')),
    "locale" TEXT NOT NULL DEFAULT 'zh_CN',
    "active" BOOLEAN NOT NULL DEFAULT TRUE,
    "must_change_password" BOOLEAN NOT NULL DEFAULT FALSE,
    "failed_logins" INTEGER NOT NULL DEFAULT 0,
    "locked_until" TIMESTAMP,
    "last_login_at" TIMESTAMP,
    "session_generation" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE RESTRICT
);
CREATE UNIQUE INDEX "user_username" ON "user" ("username");
CREATE INDEX "user_branch_id" ON "user" ("branch_id");
CREATE INDEX "user_branch_id_role" ON "user" ("branch_id", "role");

CREATE TABLE "territory" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "branch_id" INTEGER NOT NULL,
    "parent_id" INTEGER,
    "kind" TEXT NOT NULL CHECK (kind IN ('zone', 'village', 'street', 'group', 'market')),
    "name" TEXT NOT NULL,
    "code" TEXT,
    "path" TEXT NOT NULL,
    "geometry" TEXT,
    "area_m2" DOUBLE PRECISION,
    "centroid_lat" DOUBLE PRECISION,
    "centroid_lng" DOUBLE PRECISION,
    "retired_on" DATE,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("parent_id") REFERENCES "territory" ("id") ON DELETE RESTRICT
);
CREATE INDEX "territory_branch_id" ON "territory" ("branch_id");
CREATE INDEX "territory_parent_id" ON "territory" ("parent_id");
CREATE INDEX "territory_path" ON "territory" ("path");
CREATE UNIQUE INDEX "territory_branch_id_code" ON "territory" ("branch_id", "code");

CREATE TABLE "assignment" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "territory_id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "business_line" TEXT NOT NULL CHECK (business_line IN ('retail', 'micro', 'agri', 'corporate')),
    "tier" TEXT CHECK (tier IN ('gold', 'mass', 'potential')),
    "starts_on" DATE NOT NULL,
    "ends_on" DATE,
    "assigned_by_id" INTEGER,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("territory_id") REFERENCES "territory" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("assigned_by_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE INDEX "assignment_territory_id" ON "assignment" ("territory_id");
CREATE INDEX "assignment_user_id" ON "assignment" ("user_id");
CREATE INDEX "assignment_assigned_by_id" ON "assignment" ("assigned_by_id");
CREATE INDEX "assignment_user_id_ends_on" ON "assignment" ("user_id", "ends_on");
CREATE INDEX "assignment_territory_id_ends_on" ON "assignment" ("territory_id", "ends_on");

CREATE TABLE "product" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "bank_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL CHECK (kind IN ('deposit', 'loan', 'ebanking', 'payment')),
    "description" TEXT NOT NULL DEFAULT '',
    "amount_limit_wan" DOUBLE PRECISION,
    "active" BOOLEAN NOT NULL DEFAULT TRUE,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("bank_id") REFERENCES "branch" ("id") ON DELETE RESTRICT
);
CREATE INDEX "product_bank_id" ON "product" ("bank_id");
CREATE UNIQUE INDEX "product_bank_id_name" ON "product" ("bank_id", "name");

CREATE TABLE "customer" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "branch_id" INTEGER NOT NULL,
    "territory_id" INTEGER,
    "kind" TEXT NOT NULL CHECK (kind IN ('household', 'merchant', 'enterprise')),
    "name" TEXT NOT NULL,
    "phone" TEXT,
    "id_number_cipher" TEXT,
    "id_number_hash" TEXT,
    "township" TEXT,
    "village" TEXT,
    "group_name" TEXT,
    "street" TEXT,
    "house_no" TEXT,
    "category" TEXT CHECK (category IN ('planting', 'breeding', 'trade', 'labour', 'enterprise', 'other')),
    "scale_mu" DOUBLE PRECISION,
    "livestock_head" INTEGER,
    "annual_turnover_wan" DOUBLE PRECISION,
    "assets_wan" DOUBLE PRECISION,
    "debts_wan" DOUBLE PRECISION,
    "net_income_wan" DOUBLE PRECISION,
    "deposit_balance_wan" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "loan_balance_wan" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "credit_rating" TEXT CHECK (credit_rating IN ('AAA', 'AA', 'A', 'B', 'C')),
    "products_elsewhere" TEXT NOT NULL DEFAULT '',
    "consent" BOOLEAN NOT NULL DEFAULT FALSE,
    "consent_on" DATE,
    "consent_via" TEXT CHECK (consent_via IN ('written', 'verbal', 'app')),
    "sensitive_consent" BOOLEAN NOT NULL DEFAULT FALSE,
    "sensitive_consent_on" DATE,
    "sensitive_consent_via" TEXT CHECK (sensitive_consent_via IN ('written', 'app')),
    "legal_basis" TEXT CHECK (legal_basis IN ('kyc', 'contract')),
    "legal_basis_on" DATE,
    "lat" DOUBLE PRECISION,
    "lng" DOUBLE PRECISION,
    "position_source" TEXT CHECK (position_source IN ('surveyed', 'fix', 'import')),
    "position_confirmed" BOOLEAN NOT NULL DEFAULT TRUE,
    "tier" TEXT NOT NULL CHECK (tier IN ('gold', 'mass', 'potential')) DEFAULT 'potential',
    "tier_rule" TEXT,
    "status" TEXT NOT NULL CHECK (status IN ('active', 'moved', 'closed')) DEFAULT 'active',
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "core_no" TEXT,
    "refreshed_on" DATE,
    "version" INTEGER NOT NULL DEFAULT 1,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("territory_id") REFERENCES "territory" ("id") ON DELETE SET NULL
);
CREATE INDEX "customer_branch_id" ON "customer" ("branch_id");
CREATE INDEX "customer_territory_id" ON "customer" ("territory_id");
CREATE INDEX "customer_id_number_hash" ON "customer" ("id_number_hash");
CREATE INDEX "customer_territory_id_tier" ON "customer" ("territory_id", "tier");
CREATE INDEX "customer_branch_id_status" ON "customer" ("branch_id", "status");
CREATE INDEX "customer_phone" ON "customer" ("phone");

CREATE TABLE "customer_member" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "customer_id" INTEGER NOT NULL,
    "relation" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "occupation" TEXT,
    "phone" TEXT,
    "minor" BOOLEAN NOT NULL DEFAULT FALSE,
    "guardian_consent_on" DATE,
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE
);
CREATE INDEX "customer_member_customer_id" ON "customer_member" ("customer_id");

CREATE TABLE "holding" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "customer_id" INTEGER NOT NULL,
    "product_id" INTEGER NOT NULL,
    "since" DATE,
    "amount_wan" DOUBLE PRECISION,
    "reference" TEXT,
    "matures_on" DATE,
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE RESTRICT
);
CREATE INDEX "holding_customer_id" ON "holding" ("customer_id");
CREATE INDEX "holding_product_id" ON "holding" ("product_id");
CREATE UNIQUE INDEX "holding_customer_id_product_id" ON "holding" ("customer_id", "product_id");
CREATE INDEX "holding_customer_id_matures_on" ON "holding" ("customer_id", "matures_on");

CREATE TABLE "visit" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "client_uuid" TEXT NOT NULL,
    "customer_id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "made_at" TIMESTAMP NOT NULL,
    "received_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lat" DOUBLE PRECISION,
    "lng" DOUBLE PRECISION,
    "accuracy_m" DOUBLE PRECISION,
    "distance_m" DOUBLE PRECISION,
    "verified" BOOLEAN NOT NULL DEFAULT FALSE,
    "late" BOOLEAN NOT NULL DEFAULT FALSE,
    "position_unconfirmed" BOOLEAN NOT NULL DEFAULT FALSE,
    "outcome" TEXT NOT NULL CHECK (outcome IN ('met', 'not_home', 'refused', 'interested', 'applied', 'signed', 'moved')),
    "note" TEXT NOT NULL DEFAULT '',
    "next_follow_up_on" DATE,
    "photo_path" TEXT,
    "review" TEXT CHECK (review IN ('confirmed', 'rejected')),
    "reviewed_by_id" INTEGER,
    "reviewed_at" TIMESTAMP,
    "review_note" TEXT NOT NULL DEFAULT '',
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("reviewed_by_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE UNIQUE INDEX "visit_client_uuid" ON "visit" ("client_uuid");
CREATE INDEX "visit_customer_id" ON "visit" ("customer_id");
CREATE INDEX "visit_user_id" ON "visit" ("user_id");
CREATE INDEX "visit_reviewed_by_id" ON "visit" ("reviewed_by_id");
CREATE INDEX "visit_customer_id_made_at_verified_review" ON "visit" ("customer_id", "made_at", "verified", "review");
CREATE INDEX "visit_user_id_made_at" ON "visit" ("user_id", "made_at");

CREATE TABLE "visit_product" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "visit_id" INTEGER NOT NULL,
    "product_id" INTEGER NOT NULL,
    "result" TEXT NOT NULL DEFAULT 'pitched' CHECK (result IN ('pitched', 'interested', 'declined', 'applied', 'documents', 'signed')),
    FOREIGN KEY ("visit_id") REFERENCES "visit" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE RESTRICT
);
CREATE INDEX "visit_product_visit_id" ON "visit_product" ("visit_id");
CREATE INDEX "visit_product_product_id" ON "visit_product" ("product_id");
CREATE UNIQUE INDEX "visit_product_visit_id_product_id" ON "visit_product" ("visit_id", "product_id");

CREATE TABLE "follow_up" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "customer_id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "due_on" DATE NOT NULL,
    "reason" TEXT NOT NULL DEFAULT '',
    "source_visit_id" INTEGER,
    "done_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "handed_by_id" INTEGER,
    "handed_at" TIMESTAMP,
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("source_visit_id") REFERENCES "visit" ("id") ON DELETE SET NULL,
    FOREIGN KEY ("handed_by_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE INDEX "follow_up_customer_id" ON "follow_up" ("customer_id");
CREATE INDEX "follow_up_user_id" ON "follow_up" ("user_id");
CREATE INDEX "follow_up_source_visit_id" ON "follow_up" ("source_visit_id");
CREATE INDEX "follow_up_handed_by_id" ON "follow_up" ("handed_by_id");
CREATE INDEX "follow_up_user_id_done_at_due_on" ON "follow_up" ("user_id", "done_at", "due_on");
CREATE INDEX "follow_up_customer_id_due_on" ON "follow_up" ("customer_id", "due_on");

CREATE TABLE "lead" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "client_uuid" TEXT NOT NULL,
    "branch_id" INTEGER NOT NULL,
    "customer_id" INTEGER,
    "name" TEXT NOT NULL,
    "phone" TEXT,
    "product_id" INTEGER NOT NULL,
    "amount_wan" DOUBLE PRECISION,
    "source" TEXT NOT NULL CHECK (source IN ('visit', 'referral', 'counter', 'event', 'phone')),
    "status" TEXT NOT NULL CHECK (status IN ('new', 'contacted', 'qualified', 'won', 'lost')) DEFAULT 'new',
    "owner_id" INTEGER NOT NULL,
    "created_by_id" INTEGER NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "won_amount_wan" DOUBLE PRECISION,
    "won_on" DATE,
    "contract_no" TEXT,
    "lost_reason" TEXT,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "visit_id" INTEGER,
    "id_number_hash" TEXT,
    "stage_reached" INTEGER NOT NULL DEFAULT 0,
    "handed_over_at" TIMESTAMP,
    "handover_note" TEXT,
    "handover_pending" BOOLEAN NOT NULL DEFAULT FALSE,
    "closed_at" TIMESTAMP,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE SET NULL,
    FOREIGN KEY ("product_id") REFERENCES "product" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("owner_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("visit_id") REFERENCES "visit" ("id") ON DELETE SET NULL
);
CREATE UNIQUE INDEX "lead_client_uuid" ON "lead" ("client_uuid");
CREATE INDEX "lead_branch_id" ON "lead" ("branch_id");
CREATE INDEX "lead_customer_id" ON "lead" ("customer_id");
CREATE INDEX "lead_product_id" ON "lead" ("product_id");
CREATE INDEX "lead_owner_id" ON "lead" ("owner_id");
CREATE INDEX "lead_created_by_id" ON "lead" ("created_by_id");
CREATE INDEX "lead_owner_id_status" ON "lead" ("owner_id", "status");
CREATE INDEX "lead_product_id_status" ON "lead" ("product_id", "status");
CREATE INDEX "lead_phone" ON "lead" ("phone");
CREATE INDEX "lead_visit_id" ON "lead" ("visit_id");
CREATE INDEX "lead_id_number_hash" ON "lead" ("id_number_hash");
CREATE INDEX "lead_branch_id_created_at" ON "lead" ("branch_id", "created_at");
-- One open lead per customer and product, even when captures race (issue 15).
CREATE UNIQUE INDEX "lead_one_open_per_customer_product" ON "lead" ("customer_id", "product_id")
    WHERE status IN ('new', 'contacted', 'qualified');

CREATE TABLE "campaign" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "branch_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "starts_on" DATE NOT NULL,
    "ends_on" DATE NOT NULL,
    "coverage_goal_pct" DOUBLE PRECISION,
    "signup_goal" INTEGER,
    "created_by_id" INTEGER,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE INDEX "campaign_branch_id" ON "campaign" ("branch_id");
CREATE INDEX "campaign_created_by_id" ON "campaign" ("created_by_id");

CREATE TABLE "campaign_territory" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "campaign_id" INTEGER NOT NULL,
    "territory_id" INTEGER NOT NULL,
    FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("territory_id") REFERENCES "territory" ("id") ON DELETE CASCADE
);
CREATE INDEX "campaign_territory_campaign_id" ON "campaign_territory" ("campaign_id");
CREATE INDEX "campaign_territory_territory_id" ON "campaign_territory" ("territory_id");
CREATE UNIQUE INDEX "campaign_territory_campaign_id_territory_id" ON "campaign_territory" ("campaign_id", "territory_id");

CREATE TABLE "audit_log" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "user_id" INTEGER,
    "action" TEXT NOT NULL,
    "entity" TEXT NOT NULL,
    "entity_id" INTEGER,
    "detail" TEXT NOT NULL DEFAULT '{}',
    "ip" TEXT,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE INDEX "audit_log_user_id" ON "audit_log" ("user_id");
CREATE INDEX "audit_log_entity_entity_id" ON "audit_log" ("entity", "entity_id");

CREATE TABLE "setting" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "bank_id" INTEGER NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("bank_id") REFERENCES "branch" ("id") ON DELETE CASCADE
);
CREATE INDEX "setting_bank_id" ON "setting" ("bank_id");
CREATE UNIQUE INDEX "setting_bank_id_key" ON "setting" ("bank_id", "key");

CREATE TABLE "customer_change" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "customer_id" INTEGER NOT NULL,
    "user_id" INTEGER,
    "at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "field" TEXT NOT NULL,
    "old" TEXT,
    "new" TEXT,
    "version" INTEGER,
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE INDEX "customer_change_customer_id" ON "customer_change" ("customer_id");
CREATE INDEX "customer_change_user_id" ON "customer_change" ("user_id");
CREATE INDEX "customer_change_customer_id_at" ON "customer_change" ("customer_id", "at");

CREATE TABLE "tier_rule" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "bank_id" INTEGER NOT NULL,
    "position" INTEGER NOT NULL,
    "tier" TEXT NOT NULL CHECK (tier IN ('gold', 'mass')),
    "min_volume_wan" DOUBLE PRECISION,
    "min_rating" TEXT CHECK (min_rating IN ('AAA', 'AA', 'A', 'B', 'C')),
    "min_scale_mu" DOUBLE PRECISION,
    FOREIGN KEY ("bank_id") REFERENCES "branch" ("id") ON DELETE CASCADE
);
CREATE INDEX "tier_rule_bank_id" ON "tier_rule" ("bank_id");
CREATE UNIQUE INDEX "tier_rule_bank_id_position" ON "tier_rule" ("bank_id", "position");

-- Customer imports (issue 7): the core-banking customer number is looked up on every weekly refresh.
CREATE INDEX "customer_core_no" ON "customer" ("core_no");

CREATE TABLE "import_mapping" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "bank_id" INTEGER NOT NULL,
    "kind" TEXT NOT NULL CHECK (kind IN ('archive', 'core')),
    "signature" TEXT NOT NULL,
    "mapping" TEXT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("bank_id") REFERENCES "branch" ("id") ON DELETE CASCADE
);
CREATE INDEX "import_mapping_bank_id" ON "import_mapping" ("bank_id");
CREATE UNIQUE INDEX "import_mapping_bank_id_kind_signature" ON "import_mapping" ("bank_id", "kind", "signature");

CREATE TABLE "import_job" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "token" TEXT NOT NULL,
    "branch_id" INTEGER NOT NULL,
    "user_id" INTEGER,
    "kind" TEXT NOT NULL CHECK (kind IN ('archive', 'core')),
    "filename" TEXT NOT NULL,
    "file_format" TEXT NOT NULL CHECK (file_format IN ('xlsx', 'csv')),
    "encoding" TEXT,
    "header_row" INTEGER NOT NULL DEFAULT 1,
    "signature" TEXT NOT NULL DEFAULT '',
    "mapping" TEXT NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL CHECK (status IN ('mapping', 'checking', 'checked', 'writing', 'done', 'failed')) DEFAULT 'mapping',
    "total_rows" INTEGER,
    "processed_rows" INTEGER NOT NULL DEFAULT 0,
    "counts" TEXT NOT NULL DEFAULT '{}',
    "problems" TEXT NOT NULL DEFAULT '[]',
    "preview" TEXT NOT NULL DEFAULT '{}',
    "error" TEXT,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "written_at" TIMESTAMP,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE UNIQUE INDEX "import_job_token" ON "import_job" ("token");
CREATE INDEX "import_job_branch_id" ON "import_job" ("branch_id");
CREATE INDEX "import_job_user_id" ON "import_job" ("user_id");

-- Background jobs (app/models/job.py): our own record of each Huey task.
CREATE TABLE "job" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "params" TEXT NOT NULL DEFAULT '{}',
    "key" TEXT,
    "branch_id" INTEGER NOT NULL,
    "user_id" INTEGER,
    "state" TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')) DEFAULT 'queued',
    "done" INTEGER NOT NULL DEFAULT 0,
    "total" INTEGER,
    "message" TEXT,
    "worker" TEXT,
    "heartbeat_at" TIMESTAMP,
    "started_at" TIMESTAMP,
    "finished_at" TIMESTAMP,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "result" TEXT,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY ("branch_id") REFERENCES "branch" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE SET NULL
);
CREATE INDEX "job_branch_id" ON "job" ("branch_id");
CREATE INDEX "job_user_id" ON "job" ("user_id");
CREATE INDEX "job_state_heartbeat_at" ON "job" ("state", "heartbeat_at");
-- At most one live job per key: the same work asked for twice runs once.
CREATE UNIQUE INDEX "job_one_live_per_key" ON "job" ("key")
    WHERE state IN ('queued', 'running');

-- One row per periodic task and Asia/Shanghai minute: the consumer that claims it runs it.
CREATE TABLE "periodic_run" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "slot" TIMESTAMP NOT NULL,
    "claimed_by" TEXT NOT NULL,
    "claimed_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMP,
    "outcome" TEXT
);
CREATE UNIQUE INDEX "periodic_run_name_slot" ON "periodic_run" ("name", "slot");

CREATE TABLE "lead_event" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "lead_id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "kind" TEXT NOT NULL CHECK (kind IN ('created', 'status', 'reassign', 'note')),
    "from_value" TEXT,
    "to_value" TEXT,
    "note" TEXT NOT NULL DEFAULT '',
    "owner_id" INTEGER,
    FOREIGN KEY ("lead_id") REFERENCES "lead" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("owner_id") REFERENCES "user" ("id") ON DELETE RESTRICT
);
CREATE INDEX "lead_event_lead_id" ON "lead_event" ("lead_id");
CREATE INDEX "lead_event_user_id" ON "lead_event" ("user_id");
CREATE INDEX "lead_event_lead_id_at" ON "lead_event" ("lead_id", "at");
CREATE INDEX "lead_event_owner_id" ON "lead_event" ("owner_id");

CREATE TABLE "lost_reason" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "bank_id" INTEGER NOT NULL,
    "label" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT TRUE,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("bank_id") REFERENCES "branch" ("id") ON DELETE CASCADE
);
CREATE INDEX "lost_reason_bank_id" ON "lost_reason" ("bank_id");
CREATE UNIQUE INDEX "lost_reason_bank_id_label" ON "lost_reason" ("bank_id", "label");
CREATE TABLE "visit_fix" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "visit_id" INTEGER NOT NULL,
    "client_uuid" TEXT NOT NULL,
    "made_at" TIMESTAMP NOT NULL,
    "received_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lat" DOUBLE PRECISION,
    "lng" DOUBLE PRECISION,
    "accuracy_m" DOUBLE PRECISION,
    "distance_m" DOUBLE PRECISION,
    "late" BOOLEAN NOT NULL DEFAULT FALSE,
    FOREIGN KEY ("visit_id") REFERENCES "visit" ("id") ON DELETE CASCADE
);
CREATE INDEX "visit_fix_visit_id" ON "visit_fix" ("visit_id");
CREATE UNIQUE INDEX "visit_fix_client_uuid" ON "visit_fix" ("client_uuid");
CREATE INDEX "visit_made_at_customer_id_verified_review" ON "visit" ("made_at", "customer_id", "verified", "review");
-- The visits received or reviewed since the coverage page last looked (app/models/team_figures.py).
CREATE INDEX "visit_received_at" ON "visit" ("received_at");
CREATE INDEX "visit_reviewed_at" ON "visit" ("reviewed_at");
CREATE INDEX "customer_territory_id_status_consent_kind_tier_village_g_78e7d46" ON "customer" ("territory_id", "status", "consent", "kind", "tier", "village", "group_name", "lat", "lng", "name", "branch_id");

-- A team lead's "tomorrow's list": customers handed to a manager for a day (issue 18).
CREATE TABLE "handed_customer" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "customer_id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "sent_by_id" INTEGER NOT NULL,
    "for_day" DATE NOT NULL,
    "note" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("customer_id") REFERENCES "customer" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE RESTRICT,
    FOREIGN KEY ("sent_by_id") REFERENCES "user" ("id") ON DELETE RESTRICT
);
CREATE INDEX "handed_customer_customer_id" ON "handed_customer" ("customer_id");
CREATE INDEX "handed_customer_user_id" ON "handed_customer" ("user_id");
CREATE INDEX "handed_customer_sent_by_id" ON "handed_customer" ("sent_by_id");
CREATE UNIQUE INDEX "handed_customer_user_id_for_day_customer_id" ON "handed_customer" ("user_id", "for_day", "customer_id");

-- Weekly reports (issue 19): a closed week's snapshot keeps past weeks true (models/history.py);
-- plain ids, no foreign keys, so the rows outlive a merged archive.
CREATE TABLE "week_close" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "week" DATE NOT NULL,
    "closed_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "week_close_week" ON "week_close" ("week");

CREATE TABLE "customer_week" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "week" DATE NOT NULL,
    "customer_id" INTEGER NOT NULL,
    "branch_id" INTEGER NOT NULL,
    "territory_id" INTEGER,
    "kind" TEXT NOT NULL,
    "tier" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "consent" BOOLEAN NOT NULL,
    "created_on" DATE NOT NULL,
    "lat" DOUBLE PRECISION,
    "lng" DOUBLE PRECISION
);
CREATE UNIQUE INDEX "customer_week_week_customer_id" ON "customer_week" ("week", "customer_id");
CREATE INDEX "customer_week_week_territory_id" ON "customer_week" ("week", "territory_id");

CREATE TABLE "visit_week" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "week" DATE NOT NULL,
    "visit_id" INTEGER NOT NULL,
    "customer_id" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL,
    "made_at" TIMESTAMP NOT NULL,
    "verified" BOOLEAN NOT NULL,
    "outcome" TEXT NOT NULL
);
CREATE UNIQUE INDEX "visit_week_week_visit_id" ON "visit_week" ("week", "visit_id");

CREATE TABLE "report_file" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "week" DATE NOT NULL,
    "kind" TEXT NOT NULL CHECK (kind IN ('territory', 'bank')),
    "bank_id" INTEGER NOT NULL,
    "territory_id" INTEGER,
    "path" TEXT NOT NULL,
    "inputs_hash" TEXT NOT NULL,
    "pages" INTEGER NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "made_at" TIMESTAMP NOT NULL,
    "created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY ("bank_id") REFERENCES "branch" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("territory_id") REFERENCES "territory" ("id") ON DELETE CASCADE
);
CREATE INDEX "report_file_bank_id" ON "report_file" ("bank_id");
CREATE INDEX "report_file_territory_id" ON "report_file" ("territory_id");
CREATE UNIQUE INDEX "report_file_week_kind_bank_id_territory_id" ON "report_file" ("week", "kind", "bank_id", "territory_id");
