/*
 * The "penelope" profile, completed by discovery (issue 11).
 *
 * sandbox_discover('migration') on the reference schema finds one column
 * of contact details no rule of seed 000 covered: penelope.client_note.body,
 * whose case notes hold clients' phone numbers ("Contact on 0412 ..."),
 * and the leak scan of a migration run finds those numbers equal to the
 * originals of the masked client phone columns.  Seed 000's "Client
 * email and phone details will be de-identified" covers them; the notes
 * themselves stay (migration keeps them), with each email address and
 * phone number inside replaced by its pseudonym.  Mirrored, as Migration.
 * Training masks the whole note already.
 */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'client_contact', 'client_note', 'body', 'mask',
	   'sandbox.mask_contacts(body)', NULL, false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   ELSE 'Mirrored, as Migration (penelope-environments.md); seed 000: ' END
	   || '"Client email and phone details will be de-identified": also those written into case notes (found by sandbox_discover); the notes are kept'
FROM (VALUES ('migration'), ('mirrored')) AS e (environment);
