# Copyright (c) 2026, penelope_sandbox developers
#
# t/SandboxTest.pm: helpers shared by the TAP tests in t/.
#
# A test names its server once with use_node($node) (again whenever it
# starts another); the helpers below then talk to that server.

package SandboxTest;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(sleep time);

our @EXPORT = qw(use_node sql set_conf wait_for quote_literal make_copy);

my $node;

# use_node(NODE): the server the helpers talk to from now on
sub use_node
{
	($node) = @_;
	return $node;
}

# sql(DB, QUERY, [ROLE]): what psql prints, the error included, as ROLE
# (default: the superuser)
sub sql
{
	my ($db, $query, $role) = @_;
	my (undef, $out, $err) = $node->psql($db, $query,
		extra_params => [ defined $role ? ('-U', $role) : () ]);
	return join("\n", grep { $_ ne '' } ($out, $err));
}

# set_conf(NAME => VALUE, ...): set in postgresql.conf (a value of undef
# removes the line), reload, and wait until a new session sees it
sub set_conf
{
	my (%settings) = @_;
	foreach my $name (sort keys %settings)
	{
		$node->adjust_conf('postgresql.conf', $name, undef);
		$node->append_conf('postgresql.conf', "$name = $settings{$name}")
		  if defined $settings{$name};
	}
	$node->reload;
	foreach my $name (sort keys %settings)
	{
		next unless defined $settings{$name};
		(my $value = $settings{$name}) =~ s/^'(.*)'$/$1/;
		$node->poll_query_until('postgres',
			"SELECT setting = '$value' FROM pg_settings WHERE name = '$name'")
		  or die "setting $name was not reloaded";
	}
}

# wait_for(DB, QUERY, SECONDS): true once QUERY returns "t", false after
# SECONDS
sub wait_for
{
	my ($db, $query, $seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		my ($rc, $out) = $node->psql($db, $query);
		return 1 if $rc == 0 && $out eq 't';
		sleep 0.2;
	}
	return 0;
}

# quote_literal(TEXT): TEXT as an SQL string literal
sub quote_literal
{
	my ($text) = @_;
	$text =~ s/'/''/g;
	return "'$text'";
}

# make_copy(DB, [SLOW]): a small database with PII and migration rules;
# SLOW adds a rule that sleeps 3 s, to catch a run in progress
sub make_copy
{
	my ($db, $slow) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE client (id int PRIMARY KEY, email text UNIQUE, active boolean, note text);
		INSERT INTO client SELECT g, 'person' || g || '@mail.example.com', true, 'note'
		  FROM generate_series(1, 1000) g;
		GRANT SELECT ON client TO PUBLIC;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
		VALUES ('migration', 'client', 'email', 'mask', $$'user' || id || '@example.invalid'$$),
		       ('migration', 'client', 'active', 'set', 'false');
	});
	# a rule's filter may not call a volatile function such as pg_sleep
	$node->safe_psql($db, q{
		CREATE FUNCTION public.slow_down(float8) RETURNS boolean LANGUAGE plpgsql STABLE
			AS $$BEGIN PERFORM pg_sleep($1); RETURN true; END$$;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
		VALUES ('migration', 'client', 'note', 'set', 'NULL', 'id = 1 AND public.slow_down(3)');
	}) if $slow;
}

1;
