/*
 * The "penelope" profile: the rules and feature policies that make a
 * restored copy of a Penelope production database into each environment
 * of the specification: the vendor's pages "SaaS Migration Database" and
 * "SaaS Sandbox Database Options" (Bonterra Penelope documentation), and
 * their summary per environment type, with the facts of the sibling pages
 * on Mirrored and Training databases.  sandbox_load_profile('penelope')
 * copies it into sandbox.rule and sandbox.feature, replacing "@schema@" by
 * the schema Penelope lives in.  Every rule's description quotes the line
 * of the specification it implements; test/pgtap/4x_penelope_*.sql test
 * every line per environment.
 *
 * Environments.  The catalog inherits only through sandbox.environment
 * (training_b and preview inherit training_a), so the rules shared by
 * migration, mirrored and training_a are written once below and copied to
 * the three environments by a cross join with a list of environments; the
 * description is taken from the column of the environment's source.
 *
 *	- production: no rules (sandbox_sanitize refuses it).
 *	- migration: seed 000, exactly.
 *	- mirrored: migration plus SSO disabled and its secret cleared.
 *	- training_a (so training_b and preview): migration's shared list,
 *	  except that worker accounts stay active, plus full de-identification
 *	  of every client personal column and of worker names.
 *
 * Decisions where the specification leaves room (the conservative reading
 * each time):
 *
 *	- The communications queue is emptied as a whole (TRUNCATE), not only
 *	  its client and external items: the remaining "worker" items hold
 *	  the real addresses of workers the same rules de-identify, and
 *	  client names in their bodies; they would go out to real people as
 *	  soon as External Communications is re-enabled.
 *	- Queues, credentials, ClientConnect accounts and product keys are
 *	  never restorable: re-enabling a feature brings back its switches
 *	  only (seed 000 lists them as cleared, not disabled).  The SMS
 *	  gateway and SMTP settings, the DSS and General Ledger credentials
 *	  are not cleared: the specification does not list them, and External
 *	  Communications and General Ledger must work again once re-enabled.
 *	- A worker is exempt from contact de-identification if he is in ANY
 *	  of System Admin, External Admin and ACSO, and deactivated if he is
 *	  in ANY of Admin Exec, Clinical Worker, Intake Mgmt and Volunteer:
 *	  the two rules are independent, so a Clinical Worker who is also a
 *	  System Admin is deactivated and keeps his real email and SMS number
 *	  (his account stays reachable for whoever reactivates it).
 *	- worker.deactivated_at is left alone: the only honest value is the
 *	  time of the run, and a rule setting now() could not be verified in
 *	  a later transaction (sandbox_verify compares the column with the
 *	  expression); active = false is what disables the account.
 *	- Training: the vendor's Training page does not list ORS/SRS as
 *	  disabled nor the MS Exchange credentials as cleared; training gets
 *	  both anyway (everything Migration clears, as for the billing
 *	  documents logo and the locks, which
 *	  penelope-environments.md reads conservatively).  SSO is not
 *	  disabled in training (only Mirrored lists it; workers log in to
 *	  training to train).
 *	- Training: workers must be able to sign in and train
 *	  (penelope-environments.md, replacing an earlier reading that
 *	  deactivated them as in Migration).  Worker accounts stay active;
 *	  login names, password hashes and SSO stay as in production; worker
 *	  email and SMS are de-identified exactly as in Migration (System
 *	  Admin, External Admin and ACSO keep theirs), so nothing reaches a
 *	  worker from the copy.  Worker first and last names are still masked
 *	  (the training page lists "worker names" among what may not remain;
 *	  the login name, which workers need, is kept even where it is made
 *	  of the name).
 *	- Training keeps, as not identifying on their own: gender, state,
 *	  record and appointment timestamps, attachment-free agency data.  It
 *	  masks with mask_id (same shape, keyed, distinct stays distinct) the
 *	  identifiers and address parts no other masker fits: SSN, Medicare
 *	  number, address line 2, city, postcode.
 *	- Credit Card: with its production credentials cleared, the mode is
 *	  set to 'test', so the copy never tries the production gateway.
 *	- Feature policies: External Communications, MS Exchange, Action
 *	  Triggers and General Ledger "reenable"; ORS/SRS, Credit Card and DSS
 *	  (and SSO in mirrored) "manual": the extension does not switch them
 *	  back on (their credentials and queues are gone), an administrator
 *	  may by hand with new credentials; ClientConnect and Engage
 *	  "locked"; the same in mirrored and training_a (and so training_b and
 *	  preview).  Attachments, logos, contact details, worker accounts and
 *	  PHI have no policy: they are data actions, not features.
 *	- Feature names: external_communications, ms_exchange,
 *	  action_triggers, ors_srs, credit_card, dss, clientconnect, engage,
 *	  general_ledger, sso, attachments, logos, client_contact,
 *	  worker_contact, worker_accounts, phi.
 */

/* ---- Rules shared by migration, mirrored and training_a ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, r.feature, r.table_name, r.column_name,
	   r.action, r.expression, r.filter, r.restorable,
	   CASE e.environment
		   WHEN 'migration' THEN format('Seed 000 (Migration): "%s"', r.seed_000)
		   WHEN 'mirrored' THEN format('Mirrored, as Migration (penelope-environments.md); seed 000: "%s"', r.seed_000)
		   ELSE CASE WHEN r.training IS NOT NULL
					 THEN format('Training (penelope-environments.md): "%s"', r.training)
					 ELSE format('Training, conservative reading (as Migration, penelope-environments.md); seed 000: "%s"', r.seed_000)
				END
	   END
FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (environment)
CROSS JOIN (VALUES
	/* External Communications: three switches, re-enable-able */
	('external_communications', 'comm_settings', 'sms_enabled', 'set', 'false', NULL, true,
	 'Disabled: External Communications (SMS, Client Delivery and Worker Delivery)',
	 'Disabled: External Communications (SMS, Client Delivery, Worker Delivery)'),
	('external_communications', 'comm_settings', 'client_delivery_enabled', 'set', 'false', NULL, true,
	 'Disabled: External Communications (SMS, Client Delivery and Worker Delivery)',
	 'Disabled: External Communications (SMS, Client Delivery, Worker Delivery)'),
	('external_communications', 'comm_settings', 'worker_delivery_enabled', 'set', 'false', NULL, true,
	 'Disabled: External Communications (SMS, Client Delivery and Worker Delivery)',
	 'Disabled: External Communications (SMS, Client Delivery, Worker Delivery)'),
	('external_communications', 'comm_queue', NULL, 'truncate', NULL, NULL, false,
	 'Any items in the communications queue (client and external) will be cleared',
	 'Cleared: communications queue (client and external)'),

	/* MS Exchange */
	('ms_exchange', 'exchange_settings', 'sync_enabled', 'set', 'false', NULL, true,
	 'Disabled: MS Exchange',
	 'Disabled: MS Exchange'),
	('ms_exchange', 'exchange_queue', NULL, 'truncate', NULL, NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 'Cleared: MS Exchange queue and error queue'),
	('ms_exchange', 'exchange_error_queue', NULL, 'truncate', NULL, NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 'Cleared: MS Exchange queue and error queue'),
	('ms_exchange', 'exchange_settings', 'username', 'set', 'NULL', NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 NULL),
	('ms_exchange', 'exchange_settings', 'password', 'set', 'NULL', NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 NULL),

	/* Action Triggers */
	('action_triggers', 'action_trigger', 'enabled', 'set', 'false', NULL, true,
	 'Disabled: Action Triggers',
	 'Disabled: Action Triggers'),
	('action_triggers', 'action_trigger_queue', NULL, 'truncate', NULL, NULL, false,
	 'Action Trigger queue will be cleared',
	 'Cleared: Action Trigger queue'),

	/* ORS/SRS */
	('ors_srs', 'ors_settings', 'enabled', 'set', 'false', NULL, false,
	 'Disabled: ORS/SRS',
	 NULL),
	('ors_srs', 'ors_settings', 'username', 'set', 'NULL', NULL, false,
	 'ORS/SRS credentials will be cleared',
	 'Cleared: ORS/SRS credentials'),
	('ors_srs', 'ors_settings', 'password', 'set', 'NULL', NULL, false,
	 'ORS/SRS credentials will be cleared',
	 'Cleared: ORS/SRS credentials'),

	/* Credit Card */
	('credit_card', 'credit_card_settings', 'enabled', 'set', 'false', NULL, false,
	 'Disabled: Credit Card',
	 'Disabled: Credit Card'),
	('credit_card', 'credit_card_settings', 'production_merchant_id', 'set', 'NULL', NULL, false,
	 'Credit card production credentials will be cleared',
	 'Cleared: credit card production credentials'),
	('credit_card', 'credit_card_settings', 'production_api_key', 'set', 'NULL', NULL, false,
	 'Credit card production credentials will be cleared',
	 'Cleared: credit card production credentials'),
	('credit_card', 'credit_card_settings', 'mode', 'set', $$'test'$$, NULL, false,
	 'Credit card production credentials will be cleared (so the mode is test, never production)',
	 'Cleared: credit card production credentials (so the mode is test, never production)'),

	/* DSS */
	('dss', 'dss_settings', 'sync_enabled', 'set', 'false', NULL, false,
	 'DSS production queue will be cleared and synchronization deactivated',
	 'Cleared: DSS production queue (and synchronization deactivated)'),
	('dss', 'dss_queue', NULL, 'truncate', NULL, NULL, false,
	 'DSS production queue will be cleared and synchronization deactivated',
	 'Cleared: DSS production queue (and synchronization deactivated)'),

	/* ClientConnect: locked; accounts and keys (a key references its account) go together */
	('clientconnect', 'clientconnect_settings', 'enabled', 'set', 'false', NULL, false,
	 'Disabled: ClientConnect and Engage',
	 'Disabled: ClientConnect and Engage'),
	('clientconnect', 'clientconnect_settings', 'notifications_enabled', 'set', 'false', NULL, false,
	 'ClientConnect notifications will be deactivated, all accounts and product keys deleted',
	 'ClientConnect notifications deactivated, accounts and product keys deleted'),
	('clientconnect', 'clientconnect_account', NULL, 'truncate', NULL, NULL, false,
	 'ClientConnect notifications will be deactivated, all accounts and product keys deleted',
	 'ClientConnect notifications deactivated, accounts and product keys deleted'),
	('clientconnect', 'clientconnect_product_key', NULL, 'truncate', NULL, NULL, false,
	 'ClientConnect notifications will be deactivated, all accounts and product keys deleted',
	 'ClientConnect notifications deactivated, accounts and product keys deleted'),

	/* Engage: locked */
	('engage', 'engage_settings', 'client_communications_enabled', 'set', 'false', NULL, false,
	 'Engage client communications and Workflows will be deactivated',
	 'Engage client communications and Workflows deactivated'),
	('engage', 'engage_workflow', 'active', 'set', 'false', NULL, false,
	 'Engage client communications and Workflows will be deactivated',
	 'Engage client communications and Workflows deactivated'),

	/* General Ledger */
	('general_ledger', 'agency_settings', 'gl_enabled', 'set', 'false', NULL, true,
	 'Disabled: General Ledger',
	 'Disabled: General Ledger'),

	/* Attachments: every row, and the large objects of their content */
	('attachments', 'attachment', 'content_oid', 'delete', NULL, NULL, false,
	 'Attachments removed',
	 'Disabled: Attachments; attachments removed'),

	/* Logos */
	('logos', 'agency_settings', 'agency_logo', 'set', 'NULL', NULL, false,
	 'Agency logo removed',
	 'agency logo removed'),
	('logos', 'agency_settings', 'billing_documents_logo', 'set', 'NULL', NULL, false,
	 'Billing documents logo removed',
	 'Our conservative reading where the page is silent: billing documents logo removed'),

	/* Client contact details (training masks them like the other PHI) */
	('client_contact', 'client', 'email', 'mask', 'sandbox.mask_email(email)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client', 'mobile_phone', 'mask', 'sandbox.mask_phone(mobile_phone)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client', 'home_phone', 'mask', 'sandbox.mask_phone(home_phone)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client_contact', 'email', 'mask', 'sandbox.mask_email(email)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client_contact', 'phone', 'mask', 'sandbox.mask_phone(phone)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)')
) AS r (feature, table_name, column_name, action, expression, filter, restorable, seed_000, training);

/* ---- Worker accounts in migration and mirrored: deactivated if in ANY of the four groups ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'worker_accounts', 'worker', 'active', 'set', 'false',
	   $$EXISTS (SELECT FROM @schema@.worker_user_group AS wug JOIN @schema@.user_group AS g ON g.id = wug.user_group_id WHERE wug.worker_id = worker.id AND g.name IN ('Admin Exec', 'Clinical Worker', 'Intake Mgmt', 'Volunteer'))$$,
	   false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   ELSE 'Mirrored, as Migration (penelope-environments.md); seed 000: ' END
	   || '"Worker accounts in the following User Groups will be deactivated: Admin Exec, Clinical Worker, Intake Mgmt, Volunteer"'
FROM (VALUES ('migration'), ('mirrored')) AS e (environment);

/*
 * ---- Worker contact details: exempt groups keep theirs ----
 * In migration and mirrored (seed 000), and in training, "as in Migration"
 * (penelope-environments.md).
 */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'worker_contact', 'worker', r.column_name, 'mask', r.expression,
	   $$NOT EXISTS (SELECT FROM @schema@.worker_user_group AS wug JOIN @schema@.user_group AS g ON g.id = wug.user_group_id WHERE wug.worker_id = worker.id AND g.name IN ('System Admin', 'External Admin', 'ACSO'))$$,
	   false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   WHEN 'mirrored' THEN 'Mirrored, as Migration (penelope-environments.md); seed 000: '
		   ELSE 'Training (penelope-environments.md): "Worker email and SMS details are de-identified as in Migration (exempt groups keep theirs)"; seed 000: ' END
	   || '"Worker email and SMS details will be de-identified (all User Groups except System Admin and External Admin and ACSO)." A worker in any of the three keeps his.'
FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (environment)
CROSS JOIN (VALUES
	('email', 'sandbox.mask_email(email)'),
	('sms_number', 'sandbox.mask_phone(sms_number)')
) AS r (column_name, expression);

/* ---- Mirrored only: SSO ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
VALUES
	('penelope', 'mirrored', 'sso', 'agency_settings', 'sso_enabled', 'set', 'false', NULL, false,
	 'Mirrored (penelope-environments.md): "Seed 001 adds that functions such as SSO ... must be disabled on copies; SSO is therefore disabled here too."'),
	('penelope', 'mirrored', 'sso', 'agency_settings', 'sso_client_secret', 'set', 'NULL', NULL, false,
	 'Mirrored (penelope-environments.md): "SSO is therefore disabled here too." (its secret cleared, so it cannot be switched back on against the production identity provider)');

/* ---- Training: no PHI may remain ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', 'training_a', r.feature, r.table_name, r.column_name, 'mask',
	   format('sandbox.%s(%s)', r.masker, r.column_name), NULL, false,
	   'Training (penelope-environments.md): "a de-identified duplicate of Production: no PHI may remain ('
	   || r.what || ')"'
FROM (VALUES
	/* workers: names (login names, password hashes and accounts stay: workers sign in to train) */
	('phi', 'worker', 'first_name', 'mask_first_name', 'worker names'),
	('phi', 'worker', 'last_name', 'mask_last_name', 'worker names'),
	/* clients */
	('phi', 'client', 'first_name', 'mask_first_name', 'client names'),
	('phi', 'client', 'last_name', 'mask_last_name', 'client names'),
	('phi', 'client', 'preferred_name', 'mask_first_name', 'client names'),
	('phi', 'client', 'birth_date', 'mask_date', 'dates of birth'),
	('phi', 'client', 'address_line1', 'mask_address', 'addresses'),
	('phi', 'client', 'address_line2', 'mask_id', 'addresses'),
	('phi', 'client', 'city', 'mask_id', 'addresses'),
	('phi', 'client', 'postcode', 'mask_id', 'addresses'),
	('phi', 'client', 'ssn', 'mask_id', 'identifiers'),
	('phi', 'client', 'medicare_number', 'mask_id', 'identifiers'),
	('phi', 'client', 'notes', 'mask_text', 'free-text notes'),
	('phi', 'client_note', 'body', 'mask_text', 'free-text notes'),
	('phi', 'service_event', 'notes', 'mask_text', 'free-text notes')
) AS r (feature, table_name, column_name, masker, what);

/* ---- Feature policies ---- */
INSERT INTO sandbox.profile_feature (profile, environment, feature, policy, description)
SELECT 'penelope', e.environment, f.feature, f.policy, f.description
FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (environment)
CROSS JOIN (VALUES
	('external_communications', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? External Communications"'),
	('ms_exchange', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? MS Exchange"'),
	('action_triggers', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? Action Triggers"'),
	('general_ledger', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? General Ledger"'),
	('ors_srs', 'manual', 'Seed 000 lists ORS/SRS as disabled and its credentials as cleared, not as one of the features that can be re-enabled'),
	('credit_card', 'manual', 'Seed 000 lists Credit Card as disabled and its production credentials as cleared, not as one of the features that can be re-enabled'),
	('dss', 'manual', 'Seed 000: "DSS production queue will be cleared and synchronization deactivated"; not one of the features that can be re-enabled'),
	('clientconnect', 'locked', 'Seed 000: "ClientConnect and Engage cannot be enabled on the Migration database."'),
	('engage', 'locked', 'Seed 000: "ClientConnect and Engage cannot be enabled on the Migration database."')
) AS f (feature, policy, description);

/* Mirrored: SSO is disabled on copies (seed 001); an administrator may switch it on by hand. */
INSERT INTO sandbox.profile_feature (profile, environment, feature, policy, description)
VALUES ('penelope', 'mirrored', 'sso', 'manual',
		'Seed 001: functions such as SSO must be disabled on copies; its secret is cleared');
