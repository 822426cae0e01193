//! Property tests of what parses input at the edge: whatever arrives, the key parser, the slug
//! parser and weight validation never panic, and what they accept keeps their promises.
use crate::api_keys::secret::ApiKeySecret;
use crate::domain::{is_refused_control, Slug};
use crate::weights::catalogue::{catalogue, WeightSet};
use crate::weights::Category;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any text: no panic; a key that parses is exactly 58 characters of the documented shape.
    #[test]
    fn the_key_parser_takes_any_text(raw in ".{0,80}") {
        if let Some(key) = ApiKeySecret::parse(&raw) {
            prop_assert_eq!(key.expose().len(), 58);
            prop_assert!(key.expose().starts_with("atr_live_"));
        }
    }

    /// A real key with any one character changed fails its checksum (or its shape).
    #[test]
    fn a_key_with_one_character_changed_is_refused(at in 9usize..58, to in "[0-9A-Za-z]") {
        let key = ApiKeySecret::generate();
        let mut bytes = key.expose().as_bytes().to_vec();
        prop_assume!(bytes[at] != to.as_bytes()[0]);
        bytes[at] = to.as_bytes()[0];
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(ApiKeySecret::parse(&changed).is_none(), "{}", changed);
    }

    /// Any text: what parses as a slug is 1–63 of [a-z0-9-], with no hyphen at either end;
    /// what a name derives is always a slug that parses.
    #[test]
    fn slugs_are_always_url_safe(raw in "\\PC{0,80}") {
        if let Ok(slug) = Slug::parse(&raw) {
            let s = slug.as_str();
            prop_assert!(!s.is_empty() && s.len() <= 63);
            prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
        }
        let derived = Slug::from_name(&raw);
        prop_assert!(Slug::parse(derived.as_str()).is_ok(), "{:?} from {:?}", derived.as_str(), raw);
    }

    /// Any object of the catalogue's keys (and others) to any JSON numbers or values: no panic,
    /// and an accepted set holds only finite values within each weight's bounds.
    #[test]
    fn weight_validation_accepts_only_values_in_bounds(
        vis in any::<bool>(),
        entries in proptest::collection::vec((0usize..12, prop_oneof![
            any::<f64>().prop_map(serde_json::Value::from),
            (-1000i64..100_000).prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            ".{0,5}".prop_map(serde_json::Value::from),
        ]), 0..8),
    ) {
        let category = if vis { Category::Vis } else { Category::Sroi };
        let weights = catalogue(category);
        let object: serde_json::Map<String, serde_json::Value> = entries
            .into_iter()
            .map(|(i, v)| (weights.get(i).map(|w| w.key.to_string()).unwrap_or_else(|| format!("unknown_{i}")), v))
            .collect();
        if let Ok(set) = WeightSet::from_json(category, &serde_json::Value::Object(object)) {
            for w in weights {
                if let Some(v) = set.get(w.key) {
                    prop_assert!(v.is_finite() && v >= w.min && v <= w.max, "{} = {}", w.key, v);
                }
            }
        }
    }

    /// The control-character rule: NUL and escapes are refused, ordinary text and line breaks are not.
    #[test]
    fn only_control_characters_are_refused(s in "\\PC{0,40}") {
        prop_assert!(!s.chars().any(is_refused_control));
        prop_assert!(!"a\tb\nc\r".chars().any(is_refused_control));
        let with_nul = s.clone() + "\u{0}";
        prop_assert!(with_nul.chars().any(is_refused_control));
    }
}
