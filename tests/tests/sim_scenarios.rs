//! Scenario tests of the engine in the deterministic simulator, on small
//! clouds (2–300 nodes) so that the whole file stays well under a minute in
//! a debug build. Big clouds only run through the `pnrp-sim` binary
//! (`docs/simulation.md`).
//!
//! Every world here checks the cache invariants after each node input and
//! every test ends by asserting that none broke and that every request got
//! exactly one terminal event.

use core::time::Duration;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

use pnrp::engine::{Config, ResolveError, Resolved};
use pnrp::id::PnrpId;
use pnrp::name::PeerName;
use pnrp::wire::{Message, Packet, ResolveReason};
use pnrp_tests::sim::net::{addr_of, index_of_ip};
use pnrp_tests::sim::{
    Behaviour, CryptoMode, Lifetime, NameIdx, NodeIdx, OutcomeKind, Role, Scenario, TraceRecord,
    Verdict, World, WorldConfig, run, run_checked,
};

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn world(seed: u64) -> World {
    World::new(WorldConfig {
        seed,
        check_invariants: true,
        ..WorldConfig::default()
    })
}

/// `n` honest nodes: node 0 alone, each later one seeded with one or two
/// earlier ones, each publishing the secured name `node<i>` five seconds
/// after the joins; then two minutes to settle.
fn cloud(w: &mut World, n: u32) -> Vec<NameIdx> {
    for i in 0..n {
        let seeds: Vec<NodeIdx> = match i {
            0 => vec![],
            1 => vec![NodeIdx(0)],
            _ => vec![NodeIdx(0), NodeIdx((i * 7919) % i)],
        };
        w.spawn(Role::Honest, &seeds);
        w.run_for(Duration::from_millis(200));
    }
    w.run_for(SECS(5));
    let names: Vec<NameIdx> = (0..n)
        .map(|i| {
            let name = w.new_name(&format!("node{i}"), true, true);
            let r = w.register(NodeIdx(i), name);
            assert!(
                matches!(
                    w.outcome(r).map(|o| &o.kind),
                    Some(OutcomeKind::Registered(Ok(_)))
                ),
                "node {i} registered"
            );
            w.run_for(Duration::from_millis(100));
            name
        })
        .collect();
    w.run_for(SECS(120));
    names
}

/// Resolves `name` from `from` and runs until the answer (25 s at most).
fn resolve(
    w: &mut World,
    from: u32,
    name: &PeerName,
    max: usize,
) -> (Result<Vec<Resolved>, ResolveError>, Verdict) {
    let r = w.resolve(NodeIdx(from), name, max, SECS(20));
    for _ in 0..250 {
        if w.outcome(r).is_some() {
            break;
        }
        w.run_for(Duration::from_millis(100));
    }
    match w.outcome(r).map(|o| &o.kind) {
        Some(OutcomeKind::Resolved {
            result, verdict, ..
        }) => (result.clone(), *verdict),
        other => panic!("no answer to the resolution: {other:?}"),
    }
}

fn assert_clean(w: &World) {
    let m = w.metrics();
    assert_eq!(m.invariant_violations, 0, "cache invariants held");
    assert_eq!(m.unexpected_events, 0, "one terminal event per request");
    assert_eq!(m.stuck_timers, 0, "no deadline stayed in the past");
}

fn publisher_of(r: &Resolved) -> Option<u32> {
    r.cpa
        .content()
        .endpoints
        .first()
        .and_then(|e| index_of_ip(&IpAddr::V6(e.addr)))
}

#[test]
fn two_nodes_join_and_resolve_each_other() {
    let mut w = world(1);
    let a = w.spawn(Role::Honest, &[]);
    let b = w.spawn(Role::Honest, &[a]);
    w.run_for(SECS(5));
    let na = w.new_name("alpha", true, true);
    let nb = w.new_name("beta", false, true);
    w.register(a, na);
    w.register(b, nb);
    w.run_for(SECS(60));
    assert!(w.node(a).is_some_and(|n| {
        n.cache().contains(
            w.node(b)
                .and_then(|n| n.local_ids().next().copied())
                .as_ref()
                .expect("b registered"),
        )
    }));
    let peer = w.name(na).clone();
    // b caches a's entry, so it INQUIREs a at once: no LOOKUP hop.
    let (r, v) = resolve(&mut w, 1, &peer, 5);
    assert_eq!(v, Verdict::Success { hops: 0 }, "{r:?}");
    let peer = w.name(nb).clone();
    let (r, v) = resolve(&mut w, 0, &peer, 5);
    assert!(matches!(v, Verdict::Success { .. }), "{r:?}");
    assert_eq!(publisher_of(&r.expect("found")[0]), Some(1));
    assert_clean(&w);
}

#[test]
fn every_node_joins_and_every_name_resolves_in_a_cloud_of_60() {
    let mut w = world(2);
    let names = cloud(&mut w, 60);
    for i in 0..60 {
        let n = w.node(NodeIdx(i)).expect("live");
        assert!(!n.cache().is_empty(), "node {i} has a cache");
    }
    let mut hops = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let from = ((k * 17 + 5) % 60) as u32;
        let peer = w.name(*name).clone();
        let (r, v) = resolve(&mut w, from, &peer, 1);
        match v {
            Verdict::Success { hops: h } => hops.push(h),
            other => panic!("{peer} from node {from}: {other:?} {r:?}"),
        }
        let r = r.expect("found");
        assert_eq!(r[0].classifier, format!("node{k}"));
        assert_eq!(publisher_of(&r[0]), Some(k as u32));
    }
    let mean = hops.iter().sum::<u32>() as f64 / hops.len() as f64;
    assert!(mean <= 4.0, "mean hops {mean}");
    assert_clean(&w);
}

#[test]
fn unregistered_names_stop_resolving() {
    let mut w = world(3);
    let names = cloud(&mut w, 20);
    let victim = names[7];
    let peer = w.name(victim).clone();
    assert!(matches!(
        resolve(&mut w, 12, &peer, 1).1,
        Verdict::Success { .. }
    ));
    let r = w.unregister(NodeIdx(7), victim);
    assert!(matches!(
        w.outcome(r).map(|o| &o.kind),
        Some(OutcomeKind::Unregistered(1))
    ));
    w.run_for(SECS(10));
    // The revocation reached the leaf set: nobody caches the ID any more.
    let (result, verdict) = resolve(&mut w, 12, &peer, 1);
    assert_eq!(result.map(|r| r.len()), Err(ResolveError::NotFound));
    // Nobody publishes it any more: the world leaves it out of success rates.
    assert_eq!(verdict, Verdict::Excluded("target_left"));
    // The other names are unaffected.
    let other = w.name(names[8]).clone();
    assert!(matches!(
        resolve(&mut w, 12, &other, 1).1,
        Verdict::Success { .. }
    ));
    assert_clean(&w);
}

#[test]
fn a_crashed_publisher_expires_instead_of_resolving_stale() {
    let mut w = world(4);
    let names = cloud(&mut w, 20);
    let dead = 5u32;
    let dead_id = w
        .node(NodeIdx(dead))
        .and_then(|n| n.local_ids().next().copied())
        .expect("registered");
    w.stop(NodeIdx(dead));
    let peer = w.name(names[dead as usize]).clone();
    // The final INQUIRE goes to the publisher itself: no stale answer from
    // a cache, ever.
    let (result, verdict) = resolve(&mut w, 11, &peer, 1);
    assert!(
        matches!(result, Err(ResolveError::NotFound | ResolveError::Timeout)),
        "{result:?}"
    );
    assert!(matches!(verdict, Verdict::Excluded("target_left")));
    // The resolver gave up on the unresponsive entry.
    assert!(
        !w.node(NodeIdx(11))
            .expect("live")
            .cache()
            .contains(&dead_id)
    );
    // Once every node has tried, no cache points at the dead node any more.
    for from in 0..20u32 {
        if from != dead {
            let (result, _) = resolve(&mut w, from, &peer, 1);
            assert!(result.is_err(), "from {from}: {result:?}");
        }
    }
    w.run_for(SECS(60));
    let holders = (0..20u32)
        .filter(|&i| {
            w.node(NodeIdx(i))
                .is_some_and(|n| n.cache().contains(&dead_id))
        })
        .count();
    assert!(holders <= 2, "{holders} caches still hold the dead ID");
    assert_clean(&w);
}

/// Registration LOOKUPs (reason REGISTRATION, target ID + 1) that node
/// `p` sent for its registration `id`, by send time.
fn registration_lookups(trace: &[TraceRecord], id: &PnrpId) -> Vec<Duration> {
    let target = id.add_u64(1);
    trace
        .iter()
        .filter(|t| {
            matches!(&t.packet, Some(Packet { message: Message::Lookup(l), .. })
                if l.reason == ResolveReason::REGISTRATION && l.target == target)
        })
        .map(|t| t.at)
        .collect()
}

#[test]
fn registrations_are_re_announced_while_their_neighbourhood_changes() {
    let refreshed = |refresh: u64, joiners: u32| {
        let mut w = World::new(WorldConfig {
            seed: 5,
            check_invariants: true,
            engine: Config {
                refresh: SECS(refresh),
                ..Config::default()
            },
            ..WorldConfig::default()
        });
        let names = cloud(&mut w, 16);
        let p = NodeIdx(9);
        let id = *w
            .node(p)
            .and_then(|n| n.local_ids().next())
            .expect("registered");
        w.trace(p, true);
        let from = w.now();
        // Newcomers join and publish: some enter the publisher's leaf set.
        for _ in 0..joiners {
            let j = w.spawn(Role::Honest, &[NodeIdx(0)]);
            let name = w.new_name(&format!("joiner{}", j.0), true, true);
            w.set_publisher(j, name);
            w.run_for(SECS(2));
            w.register(j, name);
        }
        w.run_until(from + SECS(200));
        let trace = w.take_trace();
        // Every node that joins later still finds the name.
        let late = w.spawn(Role::Honest, &[NodeIdx(0)]);
        w.run_for(SECS(30));
        let peer = w.name(names[9]).clone();
        let (r, v) = resolve(&mut w, late.0, &peer, 1);
        assert!(matches!(v, Verdict::Success { .. }), "{r:?}");
        assert_clean(&w);
        let floods_own_entry = trace.iter().any(|t| {
            matches!(&t.packet, Some(Packet { message: Message::Flood(f), .. })
                if f.route_entry.as_ref().is_some_and(|re| re.id == id))
        });
        (
            registration_lookups(&trace, &id)
                .into_iter()
                .map(|t| t.saturating_sub(from))
                .collect::<Vec<_>>(),
            floods_own_entry,
        )
    };
    // Refresh every 90 s while newcomers join around the name: the
    // registration resolve runs again (at the maintenance tick after a
    // period) and the leaf set is re-flooded.
    let (lookups, flooded) = refreshed(90, 3);
    assert!(!lookups.is_empty(), "re-announced");
    assert!(
        flooded,
        "leaf set re-flooded with the publisher's own entry"
    );
    // Nothing changes around the name: the refreshes are skipped.
    let (lookups, _) = refreshed(90, 0);
    assert!(lookups.is_empty(), "{lookups:?}");
    // With the default ten minutes nothing is re-announced in those 200 s.
    let (lookups, _) = refreshed(Config::default().refresh.as_secs(), 3);
    assert!(lookups.is_empty(), "{lookups:?}");
}

#[test]
fn several_publishers_of_one_name_are_all_found() {
    let mut w = world(6);
    let _ = cloud(&mut w, 24);
    let shared = w.new_name("printer", true, true);
    for p in [3u32, 11, 19] {
        w.register(NodeIdx(p), shared);
        w.run_for(SECS(1));
    }
    w.run_for(SECS(60));
    let peer = w.name(shared).clone();
    let (r, v) = resolve(&mut w, 7, &peer, 10);
    assert!(matches!(v, Verdict::Success { .. }));
    let found: BTreeSet<u32> = r.expect("found").iter().filter_map(publisher_of).collect();
    assert_eq!(found, BTreeSet::from([3, 11, 19]));
    assert_clean(&w);
}

#[test]
fn a_split_cloud_heals() {
    let mut w = world(7);
    let names = cloud(&mut w, 30);
    let side_a: Vec<NodeIdx> = (0..15).map(NodeIdx).collect();
    let split = w.split(&side_a);
    // Across the split nothing resolves: the final INQUIRE cannot reach
    // the publisher.
    for k in 0..5u32 {
        let peer = w.name(names[(20 + k) as usize]).clone();
        let (r, v) = resolve(&mut w, k, &peer, 1);
        assert!(matches!(v, Verdict::Failed(_)), "{r:?}");
    }
    w.run_for(SECS(60));
    w.heal(split);
    w.run_for(SECS(120));
    let mut ok = 0;
    for k in 0..10u32 {
        let from = k * 3;
        let peer = w.name(names[((k * 7 + 16) % 30) as usize]).clone();
        if matches!(resolve(&mut w, from, &peer, 1).1, Verdict::Success { .. }) {
            ok += 1;
        }
    }
    assert_eq!(ok, 10, "every resolution succeeds after the heal");
    assert!(w.metrics().dropped_partition > 0);
    assert_clean(&w);
}

#[test]
fn forged_cpas_are_rejected() {
    let s = Scenario {
        nodes: 120,
        lookups: 150,
        seed: 8,
        malicious: 0.1,
        behaviour: Behaviour {
            drop_lookups: 0.3,
            claim_closest: true,
            forge_cpas: true,
        },
        warmup: SECS(60),
        measure: SECS(10),
        check_invariants: true,
        ..Scenario::default()
    };
    let r = run(&s).expect("valid scenario");
    assert_eq!(r.malicious_nodes, 12);
    assert!(r.forged_sent > 0, "malicious nodes forged CPAs");
    assert!(r.malicious_claims > 0, "and claimed to be closest");
    assert!(r.engine.cpa_rejected > 0, "honest nodes rejected them");
    assert_eq!(r.forged_accepted, 0, "no forged record was accepted");
    assert!(r.success_rate.unwrap_or(0.0) >= 0.9, "{r:?}");
    assert_eq!(r.invariant_violations, 0);
    assert_eq!(r.unexpected_events, 0);
    assert_eq!(r.missing_events, 0);
}

#[test]
fn a_malicious_node_cannot_hijack_a_secured_name() {
    // Direct check on one resolution: the malicious node claims every
    // target and forges a CPA for it; the result is still the publisher's.
    let mut w = world(9);
    let good: Vec<NodeIdx> = (0..10)
        .map(|i| {
            let seeds = if i == 0 { vec![] } else { vec![NodeIdx(0)] };
            w.spawn(Role::Honest, &seeds)
        })
        .collect();
    let evil = w.spawn(
        Role::Malicious(Behaviour {
            drop_lookups: 0.0,
            claim_closest: true,
            forge_cpas: true,
        }),
        &[NodeIdx(0)],
    );
    w.run_for(SECS(5));
    let evil_name = w.new_name("evil", true, false);
    w.set_publisher(evil, evil_name);
    w.register(evil, evil_name);
    let names: Vec<NameIdx> = good
        .iter()
        .map(|&n| {
            let name = w.new_name(&format!("good{}", n.0), true, true);
            w.register(n, name);
            name
        })
        .collect();
    w.run_for(SECS(120));
    for (k, name) in names.iter().enumerate() {
        let peer = w.name(*name).clone();
        let (r, v) = resolve(&mut w, ((k + 3) % 10) as u32, &peer, 1);
        assert!(matches!(v, Verdict::Success { .. }), "{peer}: {r:?}");
        for rec in r.expect("found") {
            assert_ne!(publisher_of(&rec), Some(evil.0), "hijacked");
        }
    }
    assert!(w.metrics().forged_sent > 0 || w.metrics().malicious_claims > 0);
    w.scan();
    assert_eq!(w.forged_accepted(), 0);
    assert!(w.is_malicious(evil));
    assert_eq!(addr_of(evil.0).port(), 3540);
    assert_clean(&w);
}

#[test]
fn resolution_survives_churn_and_loss() {
    let s = Scenario {
        nodes: 160,
        lookups: 200,
        seed: 10,
        churn: Lifetime::parse("exp:10m").expect("model"),
        loss: 0.02,
        warmup: SECS(60),
        measure: SECS(10),
        check_invariants: true,
        ..Scenario::default()
    };
    let r = run(&s).expect("valid scenario");
    assert!(r.leaves > 0 && r.joins > 160, "churn happened: {r:?}");
    assert!(r.dropped["loss"] > 0, "loss happened");
    assert!(r.lookups_valid >= 150, "{r:?}");
    assert!(r.success_rate.unwrap_or(0.0) >= 0.9, "{r:?}");
    assert_eq!(r.invariant_violations, 0);
    assert_eq!(r.unexpected_events, 0);
    assert_eq!(r.missing_events, 0);
}

/// Sessions of 84 s median: caches are full of dead nodes and of IDs that
/// a restarted node no longer holds. Resolutions still succeed because a
/// lost hop is replaced by the next closest cached entry, a hop silent for
/// a retransmission period no longer holds the walk up, and a route entry
/// that matches the name (a node answering N for its own older ID returns
/// its current one) is INQUIREd at once.
#[test]
fn resolution_survives_heavy_churn() {
    let s = Scenario {
        nodes: 200,
        lookups: 200,
        seed: 1,
        churn: Lifetime::parse("exp:84s").expect("model"),
        measure: SECS(10),
        ..Scenario::default()
    };
    let r = run(&s).expect("valid scenario");
    assert!(r.leaves > 100, "churn happened: {r:?}");
    assert!(r.lookups_valid >= 180, "{r:?}");
    assert!(r.success_rate.unwrap_or(0.0) >= 0.95, "{r:?}");
    assert_eq!(r.invariant_violations, 0);
    assert_eq!(r.unexpected_events, 0);
    assert_eq!(r.missing_events, 0);
}

#[test]
fn the_same_seed_gives_the_same_event_hash() {
    let s = Scenario {
        nodes: 60,
        lookups: 40,
        seed: 11,
        churn: Lifetime::parse("exp:5m").expect("model"),
        loss: 0.01,
        malicious: 0.1,
        warmup: SECS(30),
        measure: SECS(10),
        ..Scenario::default()
    };
    let a = run_checked(&s).expect("deterministic");
    assert_eq!(a.determinism.as_deref(), Some("ok"));
    let b = run(&s).expect("valid");
    assert_eq!(a.event_hash, b.event_hash);
    assert_eq!(a.events, b.events);
    assert_eq!(a.lookups_succeeded, b.lookups_succeeded);
    let c = run(&Scenario { seed: 12, ..s }).expect("valid");
    assert_ne!(a.event_hash, c.event_hash, "another seed, another run");
}

#[test]
fn real_p256_signatures_work_in_the_simulator() {
    let s = Scenario {
        nodes: 25,
        lookups: 30,
        seed: 13,
        crypto: CryptoMode::Real,
        warmup: SECS(30),
        measure: SECS(10),
        check_invariants: true,
        ..Scenario::default()
    };
    let r = run(&s).expect("valid scenario");
    assert_eq!(r.crypto, "real");
    assert_eq!(r.success_rate, Some(1.0), "{r:?}");
}

#[test]
fn the_binary_reports_the_design_keys_and_refuses_bad_input() {
    let bin = env!("CARGO_BIN_EXE_pnrp-sim");
    let out = Command::new(bin)
        .args([
            "--nodes",
            "12",
            "--lookups",
            "10",
            "--warmup",
            "20s",
            "--measure",
            "5s",
            "--json",
            "--check-determinism",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "success_rate",
        "hops_mean",
        "hops_p50",
        "hops_p99",
        "messages_per_lookup",
        "bytes_per_node_per_s",
        "memory_bytes_per_node",
        "events_per_wall_s",
        "forged_accepted",
    ] {
        assert!(v.get(key).is_some(), "key {key} in {v}");
    }
    assert_eq!(v["determinism"], "ok");
    assert_eq!(v["nodes"], 12);
    for bad in [
        &["--nodes", "0"][..],
        &["--loss", "1.5"],
        &["--malicious", "1"],
        &["--churn", "uniform:3s"],
        &["--crypto", "rsa"],
        &["--partition", "10+5:2"],
    ] {
        let out = Command::new(bin).args(bad).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{bad:?} explains itself");
    }
}
