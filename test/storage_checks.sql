-- test/storage_checks.sql: functions that read a table's storage, for the
-- suites that look for originals and check soundness after a rewrite
-- (test/rewrite_*.sh, t/008_standby.pl).  Needs pageinspect and amcheck.

-- the blocks of a relation holding marker, read raw with pageinspect
CREATE FUNCTION public.pages_with(rel regclass, marker text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(0, (pg_relation_size(rel) / current_setting('block_size')::int - 1)::int) AS b
	WHERE position(convert_to(marker, 'UTF8') IN get_raw_page(rel::text, b)) > 0
$$;

-- the heap, its TOAST table, its TOAST index and every index
CREATE FUNCTION public.storage_of(tbl regclass) RETURNS SETOF regclass LANGUAGE sql AS $$
	SELECT tbl UNION ALL SELECT reltoastrelid::regclass FROM pg_class WHERE oid = tbl AND reltoastrelid <> 0
	UNION ALL SELECT indexrelid::regclass FROM pg_index
	WHERE indrelid IN (tbl, (SELECT reltoastrelid FROM pg_class WHERE oid = tbl))
$$;

-- every index sound and holding every row; the heap sound (amcheck)
CREATE FUNCTION public.sound(tbl regclass) RETURNS text LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM public.storage_of(tbl) r JOIN pg_class c ON c.oid = r
			CROSS JOIN LATERAL bt_index_check(r, true) WHERE c.relkind = 'i')
		|| ' indexes checked, ' || (SELECT count(*) FROM verify_heapam(tbl)) || ' heap problems'
$$;
