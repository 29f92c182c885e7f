use baton_core::seq::SeqNum;
use proptest::prelude::*;

#[test]
fn basic_and_wrap() {
    let a = SeqNum(0xffff_fff0);
    let b = a + 0x20;
    assert_eq!(b, SeqNum(0x10));
    assert!(a.before(b));
    assert!(b.after(a));
    assert!(!a.after(b));
    assert_eq!(b - a, 0x20);
    assert_eq!(b.diff(a), 0x20);
    assert_eq!(a.diff(b), -0x20);
    assert_eq!(b - 0x20u32, a);
    assert!(SeqNum(5).between(a, b));
    assert!(a.between(a, b));
    assert!(b.between(a, b));
    assert!(!SeqNum(0x11).between(a, b));
    assert!(!SeqNum(0xffff_ffef).between(a, b));
    assert!(a.before_eq(a) && a.after_eq(a));
    assert!(!a.before(a) && !a.after(a));
    assert_eq!(a.max_seq(b), b);
    assert_eq!(a.min_seq(b), a);
    let mut c = a;
    c += 0x10;
    assert_eq!(c, SeqNum(0));
    c -= 1;
    assert_eq!(c, SeqNum(u32::MAX));
    assert_eq!(u32::from(SeqNum::from(7)), 7);
    assert_eq!(format!("{:?}", SeqNum(3)), "SeqNum(3)");
}

proptest! {
    #[test]
    fn antisymmetric(a in any::<u32>(), b in any::<u32>()) {
        let (a, b) = (SeqNum(a), SeqNum(b));
        prop_assert_eq!(a.before(b), b.after(a));
        prop_assert!(!(a.before(b) && b.before(a)));
        // Exactly one of before/equal/after, except at distance 2^31.
        if a.distance_from(b) != 0x8000_0000 {
            let n = [a.before(b), a == b, a.after(b)].iter().filter(|x| **x).count();
            prop_assert_eq!(n, 1);
        }
    }

    #[test]
    fn add_is_after(a in any::<u32>(), n in 1u32..0x8000_0000) {
        let a = SeqNum(a);
        prop_assert!((a + n).after(a));
        prop_assert!(a.before(a + n));
        prop_assert!((a - n).before(a));
        prop_assert_eq!((a + n) - a, n);
        prop_assert_eq!((a + n) - n, a);
    }

    #[test]
    fn between_window(lo in any::<u32>(), len in any::<u32>(), off in any::<u32>()) {
        let lo = SeqNum(lo);
        let hi = lo + len;
        let x = lo + off;
        prop_assert_eq!(x.between(lo, hi), off <= len);
    }

    #[test]
    fn translation_invariant(a in any::<u32>(), b in any::<u32>(), k in any::<u32>()) {
        let (a, b) = (SeqNum(a), SeqNum(b));
        prop_assert_eq!(a.before(b), (a + k).before(b + k));
        prop_assert_eq!(a.after(b), (a + k).after(b + k));
    }
}
