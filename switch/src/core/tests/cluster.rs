//! A cluster node's core on virtual time: STANs from its slot's range.

use super::*;
use crate::core::stan_range::StanRange;

fn node_of_slot(slot: u8) -> Harness {
    Harness::with_settings(CoreSettings {
        slot,
        ..CoreSettings::default()
    })
}

#[test]
fn a_node_forwards_signs_on_and_stands_in_with_stans_of_its_slot_only() {
    let range = StanRange::of_slot(4);
    let h = node_of_slot(4);
    let fwd = one_to(&h.acquire(Millis(1), purchase(11, "000000")), ISS);
    assert!(range.contains(fwd.stan().unwrap()), "{:?}", fwd.stan());
    // The sequence wraps inside the range, not at 999999.
    h.core.links.get(ISS).unwrap().set_next_stan(range.high());
    let last = one_to(&h.acquire(Millis(2), purchase(12, "000000")), ISS);
    let first = one_to(&h.acquire(Millis(3), purchase(13, "000000")), ISS);
    assert_eq!(last.stan(), Some(range.high()));
    assert_eq!(first.stan(), Some(range.low()));
    // Another issuer's link signs on inside the range too.
    let signon = one_to(
        &h.core
            .on_link_up(Millis(4), 9, link_config(Role::Issuer, "940810")),
        9,
    );
    assert!(range.contains(signon.stan().unwrap()));
    // Stand-in decisions number inside it.
    for _ in 0..3 {
        assert!(range.contains(h.core.stand_in.next_stan()));
    }
}

#[test]
fn after_a_restart_a_node_numbers_on_inside_its_slot() {
    let range = StanRange::of_slot(2);
    let core = Core::new(
        CoreSettings {
            slot: 2,
            ..CoreSettings::default()
        },
        Arc::new(SharedRoutingTable::new(national())),
    );
    core.continue_stans_after("940800", range.high() - 5);
    let signon = one_to(
        &core.on_link_up(Millis(0), 2, link_config(Role::Issuer, "940800")),
        2,
    );
    // Past the range's end it wraps to its start (not to 1, another slot's).
    assert_eq!(signon.stan(), Some(range.low() + STAN_MARGIN - 6));
}
