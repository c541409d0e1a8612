#!/usr/bin/perl
# Example ticket create script for zenticket-hook: takes the zenticket daemon's arguments
# (-customer ID -device DEVICE ... -queue QUEUE), appends the ticket to a local file
# (tickets.txt beside this script, or $ZENTICKET_TICKETS) and prints its number.
#
# A real script calls the ticket system instead. If that system can dedupe, send it
# $ENV{ZENTICKET_IDEMPOTENCY_KEY}: it is the same for every attempt at one ticket, so a
# retry after a crash makes no second ticket. This example dedupes on it itself.
use strict;
use warnings;
use Fcntl qw(:flock SEEK_SET);
use File::Basename qw(dirname);

my %arg;
while (@ARGV) {
    my $flag = shift @ARGV;
    die "unexpected argument: $flag\n" unless $flag =~ /^-(\w+)$/;
    die "no value for $flag\n" unless @ARGV;
    $arg{$1} = shift @ARGV;
}
for my $need (qw(customer device queue summary count)) {
    die "missing -$need\n" unless defined $arg{$need};
}

my $file = $ENV{ZENTICKET_TICKETS} || dirname($0) . "/tickets.txt";
my $key  = $ENV{ZENTICKET_IDEMPOTENCY_KEY} || "";
open(my $fh, '+>>', $file) or die "cannot open $file: $!\n";
flock($fh, LOCK_EX) or die "cannot lock $file: $!\n";
seek($fh, 0, SEEK_SET);
my $last = 1000;
while (my $line = <$fh>) {
    my ($n, $k) = split /\t/, $line;
    if ($key ne "" && defined $k && $k eq $key) {    # a retry of a ticket we already made
        print "$n\n";
        exit 0;
    }
    $last = $n if $n =~ /^\d+$/ && $n > $last;
}
my $ticket = $last + 1;
# One line per ticket: tabs, newlines and backslashes in event text are escaped.
sub clean { my $v = shift; $v =~ s/\\/\\\\/g; $v =~ s/\t/\\t/g; $v =~ s/\n/\\n/g; $v =~ s/\r/\\r/g; return $v }
print $fh join("\t", $ticket, $key, map { clean($arg{$_} // "") }
    qw(customer queue device deviceIP severity count summary note group)), "\n";
close($fh) or die "cannot write $file: $!\n";
print "$ticket\n";
