use proptest::prelude::*;

use super::*;

const NOW: i64 = 1_800_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn image() -> Vec<u8> {
    let mut img = vec![0u8; usize::try_from(FILE_LEN).unwrap()];
    img[..HEADER_LEN].copy_from_slice(&header());
    img
}

fn slot<'a>(name: &'a [u8], family: Family, addrs: Vec<Addr>) -> Slot<'a> {
    Slot {
        expires_ns: NOW + 10 * SEC,
        family,
        name,
        addrs,
    }
}

fn slot_at(name: &[u8], way: usize) -> usize {
    usize::try_from(bucket_offset(bucket_of(name))).unwrap() + way * SLOT_SIZE
}

/// Writes `s` into way `way` of its name's bucket.
fn put(img: &mut [u8], way: usize, s: &Slot<'_>) {
    let at = slot_at(s.name, way);
    img[at..at + SLOT_SIZE].copy_from_slice(&s.encode().unwrap());
}

fn both() -> Vec<Addr> {
    vec![Addr::V4([10, 1, 2, 3]), Addr::V6([0x20; 16])]
}

#[test]
fn a_published_answer_is_found_in_any_case_with_or_without_the_dot() {
    let mut img = image();
    put(&mut img, 2, &slot(b"myhost.pnrp.net", Family::Any, both()));
    for name in [
        &b"myhost.pnrp.net"[..],
        b"MyHost.PNRP.net.",
        b"MYHOST.pnrp.net",
    ] {
        assert_eq!(lookup_in(&img, name, Family::Any, NOW), Some(both()));
    }
    assert_eq!(lookup_in(&img, b"other.pnrp.net", Family::Any, NOW), None);
}

#[test]
fn one_family_is_answered_from_its_own_slot_or_filtered_from_any() {
    let mut img = image();
    put(&mut img, 0, &slot(b"h.pnrp.net", Family::Any, both()));
    assert_eq!(
        lookup_in(&img, b"h.pnrp.net", Family::V4, NOW),
        Some(vec![Addr::V4([10, 1, 2, 3])])
    );
    assert_eq!(
        lookup_in(&img, b"h.pnrp.net", Family::V6, NOW),
        Some(vec![Addr::V6([0x20; 16])])
    );
    // An exact slot wins over the filtered "any" one.
    put(
        &mut img,
        3,
        &slot(b"h.pnrp.net", Family::V4, vec![Addr::V4([1, 1, 1, 1])]),
    );
    assert_eq!(
        lookup_in(&img, b"h.pnrp.net", Family::V4, NOW),
        Some(vec![Addr::V4([1, 1, 1, 1])])
    );
    // Nothing of the family left after filtering: not in the table.
    let mut img = image();
    put(
        &mut img,
        0,
        &slot(b"h.pnrp.net", Family::Any, vec![Addr::V4([10, 0, 0, 1])]),
    );
    assert_eq!(lookup_in(&img, b"h.pnrp.net", Family::V6, NOW), None);
}

#[test]
fn expired_far_future_and_cleared_slots_are_ignored() {
    let name = b"h.pnrp.net";
    for (expires, live) in [
        (NOW + SEC, true),
        (NOW, false),
        (NOW - SEC, false),
        (NOW + MAX_TTL_NS, true),
        (NOW + MAX_TTL_NS + 1, false),
        (i64::MAX, false),
        (i64::MIN, false),
    ] {
        let mut img = image();
        let mut s = slot(name, Family::Any, both());
        s.expires_ns = expires;
        put(&mut img, 1, &s);
        assert_eq!(
            lookup_in(&img, name, Family::Any, NOW).is_some(),
            live,
            "expires {expires}"
        );
    }
    // The writer clears a slot by writing zeros over it.
    let mut img = image();
    put(&mut img, 1, &slot(name, Family::Any, both()));
    let at = slot_at(name, 1);
    img[at..at + SLOT_SIZE].fill(0);
    assert_eq!(lookup_in(&img, name, Family::Any, NOW), None);
}

#[test]
fn changed_bytes_a_short_file_or_another_version_fall_back() {
    let mut img = image();
    let name = b"h.pnrp.net";
    put(&mut img, 0, &slot(name, Family::Any, both()));
    assert!(lookup_in(&img, name, Family::Any, NOW).is_some());
    assert!(is_header(&img));
    // Any single changed byte of the slot's used part.
    let at = slot_at(name, 0);
    for i in 0..32 + 16 * 2 + name.len() {
        let mut bad = img.clone();
        bad[at + i] ^= 0x40;
        assert_eq!(lookup_in(&bad, name, Family::Any, NOW), None, "byte {i}");
    }
    // Bytes past the used part are not part of the answer.
    let mut spare = img.clone();
    spare[at + SLOT_SIZE - 1] = 0xff;
    assert!(lookup_in(&spare, name, Family::Any, NOW).is_some());
    let end = at + BUCKET_LEN;
    assert!(lookup_in(&img[..end], name, Family::Any, NOW).is_some());
    assert_eq!(lookup_in(&img[..end - 1], name, Family::Any, NOW), None);
    assert_eq!(lookup_in(&img[..30], name, Family::Any, NOW), None);
    assert_eq!(lookup_in(&[], name, Family::Any, NOW), None);
}

#[test]
fn answers_that_do_not_fit_a_slot_are_not_published() {
    let many: Vec<Addr> = (0..=MAX_SLOT_ADDRS as u8)
        .map(|i| Addr::V4([10, 0, 0, i]))
        .collect();
    assert!(slot(b"h.pnrp.net", Family::Any, many).encode().is_none());
    assert!(slot(b"h.pnrp.net", Family::Any, vec![]).encode().is_none());
    assert!(slot(b"", Family::Any, both()).encode().is_none());
    let long = vec![b'a'; MAX_NAME + 1];
    assert!(slot(&long, Family::Any, both()).encode().is_none());
    let longest = vec![b'a'; MAX_NAME];
    let twelve: Vec<Addr> = (0..MAX_SLOT_ADDRS as u8)
        .map(|i| Addr::V6([i; 16]))
        .collect();
    let s = slot(&longest, Family::V6, twelve);
    assert_eq!(Slot::decode(&s.encode().unwrap()), Some(s));
}

#[test]
fn the_socket_path_gives_the_table_path() {
    let mut buf = [0u8; MAX_PATH];
    for (socket, table) in [
        ("/run/pnrp/lookup.sock", &b"/run/pnrp/hosts.table"[..]),
        ("/lookup.sock", b"/hosts.table"),
        ("lookup.sock", b"hosts.table"),
        ("run/x/", b"run/x/hosts.table"),
    ] {
        assert_eq!(
            path_for_socket(socket, &mut buf).map(CStr::to_bytes),
            Some(table)
        );
    }
    assert!(path_for_socket("/a\0b/lookup.sock", &mut buf).is_none());
    let long = format!("/{}/lookup.sock", "d".repeat(MAX_PATH));
    assert!(path_for_socket(&long, &mut buf).is_none());
    let edge = format!("/{}/x", "d".repeat(MAX_PATH - 2 - 1 - FILE_NAME.len()));
    assert_eq!(
        path_for_socket(&edge, &mut buf).unwrap().to_bytes().len(),
        MAX_PATH - 1
    );
}

#[test]
fn a_missing_or_odd_file_is_not_an_answer() {
    let dir = std::env::temp_dir().join(format!("nss-pnrp-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |f: &str| std::ffi::CString::new(dir.join(f).display().to_string()).unwrap();
    assert_eq!(lookup_file(&path("none"), b"h.pnrp.net", Family::Any), None);
    // A directory, and garbage.
    assert_eq!(lookup_file(&path(""), b"h.pnrp.net", Family::Any), None);
    std::fs::write(dir.join("garbage"), vec![0xa5u8; 70_000]).unwrap();
    assert_eq!(
        lookup_file(&path("garbage"), b"h.pnrp.net", Family::Any),
        None
    );
    // A real file with a live slot is found.
    let mut img = image();
    let now = now_ns();
    let mut s = slot(b"h.pnrp.net", Family::Any, both());
    s.expires_ns = now + 10 * SEC;
    put(&mut img, 3, &s);
    std::fs::write(dir.join("good"), &img).unwrap();
    assert_eq!(
        lookup_file(&path("good"), b"H.pnrp.net", Family::Any),
        Some(both())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn arb_addr() -> impl Strategy<Value = Addr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(Addr::V4),
        any::<[u8; 16]>().prop_map(Addr::V6),
    ]
}

fn arb_slot() -> impl Strategy<Value = (Vec<u8>, Vec<Addr>)> {
    (
        proptest::collection::vec(b'a'..=b'z', 1..40),
        proptest::collection::vec(arb_addr(), 1..=MAX_SLOT_ADDRS),
    )
}

proptest! {
    /// Any bytes: no panic, and what decodes re-encodes to the same bytes.
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..9000)) {
        fuzz_oracle(&data);
    }

    /// A valid table with random bytes overwritten: no panic, and the
    /// answer, if any, is the one published.
    #[test]
    fn corrupted_tables_give_the_answer_or_nothing(
        (name, addrs) in arb_slot(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut img = image();
        put(&mut img, 1, &slot(&name, Family::Any, addrs.clone()));
        let bucket = slot_at(&name, 0);
        for (at, v) in &edits {
            img[bucket + at.index(BUCKET_LEN)] = *v;
        }
        fuzz_oracle(&img);
        if let Some(got) = lookup_in(&img, &name, Family::Any, NOW) {
            prop_assert_eq!(got, addrs);
        }
    }

    /// A torn slot (the first `cut` bytes of the new answer over the old
    /// one, as a reader racing the writer's pwrite could copy it) gives the
    /// old answer, the new one, or nothing; never a mixture.
    #[test]
    fn torn_slots_give_old_new_or_nothing(
        (name, old) in arb_slot(),
        new in proptest::collection::vec(arb_addr(), 1..=MAX_SLOT_ADDRS),
        cut in 0..=SLOT_SIZE,
        new_first in any::<bool>(),
    ) {
        let a = slot(&name, Family::Any, old.clone()).encode().unwrap();
        let mut s = slot(&name, Family::Any, new.clone());
        s.expires_ns += SEC;
        let b = s.encode().unwrap();
        let (first, second) = if new_first { (&b, &a) } else { (&a, &b) };
        let mut torn = [0u8; SLOT_SIZE];
        torn[..cut].copy_from_slice(&first[..cut]);
        torn[cut..].copy_from_slice(&second[cut..]);
        let mut img = image();
        let at = slot_at(&name, 0);
        img[at..at + SLOT_SIZE].copy_from_slice(&torn);
        if let Some(got) = lookup_in(&img, &name, Family::Any, NOW) {
            prop_assert!(got == old || got == new, "mixture {:?}", got);
        }
    }

    /// Clearing a slot (zeros written over it) while a reader copies it.
    #[test]
    fn half_cleared_slots_are_not_trusted(
        (name, addrs) in arb_slot(),
        cut in 1..SLOT_SIZE,
    ) {
        let full = slot(&name, Family::Any, addrs.clone()).encode().unwrap();
        let used = 32 + 16 * addrs.len() + name.len();
        let mut torn = full;
        for b in &mut torn[..cut] {
            *b = 0;
        }
        let mut img = image();
        let at = slot_at(&name, 0);
        img[at..at + SLOT_SIZE].copy_from_slice(&torn);
        let got = lookup_in(&img, &name, Family::Any, NOW);
        if torn[..used] == full[..used] {
            prop_assert_eq!(got, Some(addrs));
        } else {
            prop_assert_eq!(got, None);
        }
    }
}

/// The committed fuzz corpus (`fuzz/corpus/host_table`) replays here too.
#[test]
fn fuzz_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/host_table");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        fuzz_oracle(&std::fs::read(entry.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}
