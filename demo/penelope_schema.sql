/*
 * demo/penelope_schema.sql: a Penelope-shaped reference schema.
 *
 * Penelope (Bonterra's case-management system) publishes no schema, so this
 * is a faithful stand-in holding everything the specification (the
 * vendor's pages "SaaS Migration Database" and "SaaS Sandbox Database
 * Options", and their sibling pages on Mirrored and Training databases)
 * names: the agency settings
 * with its logos, SSO and General Ledger; clients and their contact details,
 * notes and attachments; workers and user groups; external communications;
 * MS Exchange; Action Triggers; ORS/SRS; Credit Card; DSS; ClientConnect;
 * Engage; service events.  Everything lives in schema "penelope".
 *
 * Conventions: snake_case; bigint identity primary keys (the generator in
 * demo/penelope_generate.sql supplies explicit ids with OVERRIDING SYSTEM
 * VALUE and then moves the sequences past them); real foreign keys without
 * ON DELETE actions, as an application would declare them; feature switches
 * are NOT NULL booleans named *_enabled (or "active"); settings tables hold
 * exactly one row (id integer PRIMARY KEY CHECK (id = 1)).
 *
 * The file runs inside a caller's transaction (no BEGIN/COMMIT of its own).
 * Usage: psql -v ON_ERROR_STOP=1 -f demo/penelope_schema.sql
 */

CREATE SCHEMA penelope;
COMMENT ON SCHEMA penelope IS
	'Penelope-shaped reference schema for penelope_sandbox (synthetic, see demo/)';

/* ---------------------------------------------------------------- agency */

/* Agency-wide settings: logos, single sign-on and the General Ledger export. */
CREATE TABLE penelope.agency_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	agency_name text NOT NULL,
	agency_logo bytea,
	billing_documents_logo bytea,
	sso_enabled boolean NOT NULL DEFAULT false,
	sso_provider_url text,
	sso_client_id text,
	sso_client_secret text,
	gl_enabled boolean NOT NULL DEFAULT false,
	gl_export_url text,
	gl_username text,
	gl_password text,
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE penelope.agency_settings IS
	'Single row: agency name and logos, SSO settings, General Ledger export settings';

/* --------------------------------------------------------------- workers */

/* Security groups workers belong to; they decide rights and sanitization. */
CREATE TABLE penelope.user_group (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL UNIQUE,
	description text
);
COMMENT ON TABLE penelope.user_group IS
	'User groups (System Admin, External Admin, ACSO, Admin Exec, Clinical Worker, ...)';

/* Staff and volunteers who log in to Penelope. */
CREATE TABLE penelope.worker (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	first_name text NOT NULL,
	last_name text NOT NULL,
	email text,
	sms_number text,
	login_name text NOT NULL UNIQUE,
	password_hash text,
	active boolean NOT NULL DEFAULT true,
	deactivated_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_email_idx ON penelope.worker (email);
CREATE INDEX worker_name_idx ON penelope.worker (last_name, first_name);
COMMENT ON TABLE penelope.worker IS
	'Workers (user accounts); email and SMS number are used for notifications';

/* Membership of workers in user groups; a worker may be in several. */
CREATE TABLE penelope.worker_user_group (
	worker_id bigint NOT NULL REFERENCES penelope.worker (id),
	user_group_id bigint NOT NULL REFERENCES penelope.user_group (id),
	PRIMARY KEY (worker_id, user_group_id)
);
CREATE INDEX worker_user_group_group_idx ON penelope.worker_user_group (user_group_id);
COMMENT ON TABLE penelope.worker_user_group IS
	'Which workers are in which user groups (many-to-many)';

/* --------------------------------------------------------------- clients */

/* People the agency serves: the bulk of the PHI. */
CREATE TABLE penelope.client (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	first_name text NOT NULL,
	last_name text NOT NULL,
	preferred_name text,
	birth_date date,
	gender text,
	address_line1 text,
	address_line2 text,
	city text,
	state text,
	postcode text,
	email text,
	mobile_phone text,
	home_phone text,
	ssn text,
	medicare_number text,
	notes text,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_email_idx ON penelope.client (email);
CREATE INDEX client_name_idx ON penelope.client (last_name, first_name);
COMMENT ON TABLE penelope.client IS
	'Clients: names, date of birth, address, email, phones, identifiers, notes';

/* Additional email addresses and phone numbers of a client. */
CREATE TABLE penelope.client_contact (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint NOT NULL REFERENCES penelope.client (id),
	label text NOT NULL,
	email text,
	phone text,
	CHECK (email IS NOT NULL OR phone IS NOT NULL)
);
CREATE INDEX client_contact_client_idx ON penelope.client_contact (client_id);
COMMENT ON TABLE penelope.client_contact IS
	'Extra emails and phone numbers of clients (work, emergency contact, ...)';

/* Free-text case notes written by workers about a client. */
CREATE TABLE penelope.client_note (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint NOT NULL REFERENCES penelope.client (id),
	worker_id bigint REFERENCES penelope.worker (id),
	written_at timestamptz NOT NULL DEFAULT now(),
	body text NOT NULL
);
CREATE INDEX client_note_client_idx ON penelope.client_note (client_id);
COMMENT ON TABLE penelope.client_note IS 'Case notes (free text, PHI)';

/* Appointments and other work with a client, optionally synced to MS Exchange. */
CREATE TABLE penelope.service_event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint NOT NULL REFERENCES penelope.client (id),
	worker_id bigint NOT NULL REFERENCES penelope.worker (id),
	starts_at timestamptz NOT NULL,
	ends_at timestamptz NOT NULL,
	exchange_sync boolean NOT NULL DEFAULT false,
	exchange_item_id text,
	notes text,
	CHECK (ends_at >= starts_at)
);
CREATE INDEX service_event_client_idx ON penelope.service_event (client_id);
CREATE INDEX service_event_worker_idx ON penelope.service_event (worker_id, starts_at);
COMMENT ON TABLE penelope.service_event IS
	'Service events (appointments); exchange_sync marks those synchronized with MS Exchange';

/* Files uploaded against a client (or the agency): inline bytea or a large object. */
CREATE TABLE penelope.attachment (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint REFERENCES penelope.client (id),
	uploaded_by bigint REFERENCES penelope.worker (id),
	file_name text NOT NULL,
	mime_type text NOT NULL,
	content bytea,
	content_oid oid,
	uploaded_at timestamptz NOT NULL DEFAULT now(),
	CHECK (content IS NULL OR content_oid IS NULL)
);
CREATE INDEX attachment_client_idx ON penelope.attachment (client_id);
COMMENT ON TABLE penelope.attachment IS
	'Attachments: content inline (bytea) or as a large object (content_oid)';

/* ------------------------------------------------ external communications */

/* External communications switches and the SMS gateway. */
CREATE TABLE penelope.comm_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	sms_enabled boolean NOT NULL DEFAULT false,
	client_delivery_enabled boolean NOT NULL DEFAULT false,
	worker_delivery_enabled boolean NOT NULL DEFAULT false,
	sms_gateway_url text,
	sms_gateway_api_key text,
	smtp_host text,
	smtp_username text,
	smtp_password text
);
COMMENT ON TABLE penelope.comm_settings IS
	'Single row: External Communications (SMS, Client Delivery, Worker Delivery)';

/* Outgoing SMS and email waiting to be (or already) delivered. */
CREATE TABLE penelope.comm_queue (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint REFERENCES penelope.client (id),
	worker_id bigint REFERENCES penelope.worker (id),
	audience text NOT NULL CHECK (audience IN ('client', 'external', 'worker')),
	channel text NOT NULL CHECK (channel IN ('sms', 'email')),
	recipient text NOT NULL,
	subject text,
	body text NOT NULL,
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'sent', 'failed')),
	created_at timestamptz NOT NULL DEFAULT now(),
	sent_at timestamptz
);
CREATE INDEX comm_queue_pending_idx ON penelope.comm_queue (created_at)
	WHERE status = 'pending';
COMMENT ON TABLE penelope.comm_queue IS
	'Communications queue: messages to clients, external contacts and workers';

/* ----------------------------------------------------------- MS Exchange */

/* MS Exchange calendar synchronization settings and credentials. */
CREATE TABLE penelope.exchange_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	sync_enabled boolean NOT NULL DEFAULT false,
	server_url text,
	username text,
	password text
);
COMMENT ON TABLE penelope.exchange_settings IS 'Single row: MS Exchange synchronization';

/* Service event changes waiting to be pushed to MS Exchange. */
CREATE TABLE penelope.exchange_queue (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service_event_id bigint NOT NULL REFERENCES penelope.service_event (id),
	operation text NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
	queued_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE penelope.exchange_queue IS 'MS Exchange queue';

/* Exchange pushes that failed, kept for retry and diagnosis. */
CREATE TABLE penelope.exchange_error_queue (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	service_event_id bigint NOT NULL REFERENCES penelope.service_event (id),
	operation text NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
	error_message text NOT NULL,
	attempts integer NOT NULL DEFAULT 1,
	failed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE penelope.exchange_error_queue IS 'MS Exchange error queue';

/* -------------------------------------------------------- Action Triggers */

/* Configured automations (send a letter, create a task, notify someone ...). */
CREATE TABLE penelope.action_trigger (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL UNIQUE,
	event text NOT NULL,
	enabled boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE penelope.action_trigger IS 'Action Triggers';

/* Fired triggers waiting for their actions to run. */
CREATE TABLE penelope.action_trigger_queue (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	action_trigger_id bigint NOT NULL REFERENCES penelope.action_trigger (id),
	client_id bigint REFERENCES penelope.client (id),
	payload text,
	queued_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE penelope.action_trigger_queue IS 'Action Trigger queue';

/* ----------------------------------------------------------------- ORS/SRS */

/* Outcome / Session Rating Scales integration. */
CREATE TABLE penelope.ors_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	enabled boolean NOT NULL DEFAULT false,
	endpoint_url text,
	username text,
	password text
);
COMMENT ON TABLE penelope.ors_settings IS 'Single row: ORS/SRS integration and credentials';

/* ------------------------------------------------------------- Credit Card */

/* Card payment gateway; production credentials take real money. */
CREATE TABLE penelope.credit_card_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	enabled boolean NOT NULL DEFAULT false,
	mode text NOT NULL DEFAULT 'test' CHECK (mode IN ('production', 'test')),
	production_merchant_id text,
	production_api_key text,
	test_merchant_id text,
	test_api_key text
);
COMMENT ON TABLE penelope.credit_card_settings IS
	'Single row: Credit Card payments; production and test credentials';

/* --------------------------------------------------------------------- DSS */

/* Data Exchange (DSS) reporting to the Australian Department of Social Services. */
CREATE TABLE penelope.dss_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	sync_enabled boolean NOT NULL DEFAULT false,
	production_endpoint text,
	organisation_id text,
	username text,
	password text
);
COMMENT ON TABLE penelope.dss_settings IS 'Single row: DSS synchronization and credentials';

/* Records waiting to be sent to DSS production. */
CREATE TABLE penelope.dss_queue (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint NOT NULL REFERENCES penelope.client (id),
	service_event_id bigint REFERENCES penelope.service_event (id),
	payload text NOT NULL,
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'sent', 'failed')),
	queued_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE penelope.dss_queue IS 'DSS production queue';

/* ----------------------------------------------------------- ClientConnect */

/* The client portal. */
CREATE TABLE penelope.clientconnect_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	enabled boolean NOT NULL DEFAULT false,
	notifications_enabled boolean NOT NULL DEFAULT false,
	portal_url text
);
COMMENT ON TABLE penelope.clientconnect_settings IS 'Single row: ClientConnect portal';

/* Portal logins of clients. */
CREATE TABLE penelope.clientconnect_account (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id bigint NOT NULL UNIQUE REFERENCES penelope.client (id),
	login_email text NOT NULL UNIQUE,
	password_hash text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_login_at timestamptz
);
COMMENT ON TABLE penelope.clientconnect_account IS 'ClientConnect accounts';

/* Licence keys for the portal; a redeemed key points at its account. */
CREATE TABLE penelope.clientconnect_product_key (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	product_key text NOT NULL UNIQUE,
	account_id bigint REFERENCES penelope.clientconnect_account (id),
	issued_at timestamptz NOT NULL DEFAULT now(),
	redeemed_at timestamptz
);
COMMENT ON TABLE penelope.clientconnect_product_key IS 'ClientConnect product keys';

/* ------------------------------------------------------------------ Engage */

/* Engage (client engagement) settings. */
CREATE TABLE penelope.engage_settings (
	id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	client_communications_enabled boolean NOT NULL DEFAULT false,
	api_url text,
	api_key text
);
COMMENT ON TABLE penelope.engage_settings IS 'Single row: Engage client communications';

/* Engage automated workflows. */
CREATE TABLE penelope.engage_workflow (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL UNIQUE,
	active boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE penelope.engage_workflow IS 'Engage Workflows';
