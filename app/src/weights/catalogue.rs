//! The known weights of each category, and `WeightSet`: a company's overrides, parsed once
//! against the catalogue and trusted after that.
//!
//! SROI (social return on investment) turns a company's programme activity into money: an
//! hour volunteered is worth `volunteer_hour_value`, less what would have happened anyway
//! (deadweight) and what others can claim (attribution). VIS (volunteer impact score) blends
//! four signals into one 0–100 score; their weights must sum to 1.
use super::Category;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Money, with at most two decimals.
    Currency,
    /// A share from 0 to 1, with at most four decimals.
    Fraction,
    /// A plain number with at most four decimals.
    Decimal,
    Integer,
}

impl Kind {
    fn decimals(self) -> u32 {
        match self {
            Kind::Currency => 2,
            Kind::Fraction | Kind::Decimal => 4,
            Kind::Integer => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Currency => "currency",
            Kind::Fraction => "fraction",
            Kind::Decimal => "decimal",
            Kind::Integer => "integer",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Weight {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub kind: Kind,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub help: &'static str,
}

const SROI: &[Weight] = &[
    Weight {
        key: "volunteer_hour_value",
        label: "Value of a volunteer hour",
        unit: "USD per hour",
        kind: Kind::Currency,
        min: 0.0,
        max: 500.0,
        default: 33.49,
        help: "What one hour of general volunteering is worth. The default is Independent Sector's 2024 US figure.",
    },
    Weight {
        key: "skilled_volunteer_hour_value",
        label: "Value of a skilled volunteer hour",
        unit: "USD per hour",
        kind: Kind::Currency,
        min: 0.0,
        max: 1000.0,
        default: 75.0,
        help: "Pro-bono work priced at the market rate of the skill. Never below a general hour.",
    },
    Weight {
        key: "donation_multiplier",
        label: "Social value per dollar donated",
        unit: "ratio",
        kind: Kind::Decimal,
        min: 0.0,
        max: 10.0,
        default: 1.0,
        help: "How much social value one donated dollar creates once the charity spends it.",
    },
    Weight {
        key: "in_kind_ratio",
        label: "Share of in-kind fair market value",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 1.0,
        default: 0.8,
        help: "Goods given in kind count for this share of their fair market value.",
    },
    Weight {
        key: "deadweight",
        label: "Deadweight",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 0.95,
        default: 0.2,
        help: "The share of the outcome that would have happened anyway.",
    },
    Weight {
        key: "attribution",
        label: "Attribution to others",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 0.95,
        default: 0.25,
        help: "The share of the outcome other organisations can claim. With deadweight, below 1.",
    },
    Weight {
        key: "discount_rate",
        label: "Discount rate",
        unit: "% per year",
        kind: Kind::Decimal,
        min: 0.0,
        max: 20.0,
        default: 3.5,
        help: "Discounts value that arrives in later years (the UK Green Book rate by default).",
    },
];

const VIS: &[Weight] = &[
    Weight {
        key: "hours_weight",
        label: "Weight of hours",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 1.0,
        default: 0.4,
        help: "How much the hours volunteered count. The four weights sum to 1.",
    },
    Weight {
        key: "participation_weight",
        label: "Weight of participation",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 1.0,
        default: 0.3,
        help: "How much the share of employees taking part counts.",
    },
    Weight {
        key: "skills_weight",
        label: "Weight of skills-based work",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 1.0,
        default: 0.2,
        help: "How much pro-bono and skills-based volunteering counts.",
    },
    Weight {
        key: "consistency_weight",
        label: "Weight of consistency",
        unit: "share (0–1)",
        kind: Kind::Fraction,
        min: 0.0,
        max: 1.0,
        default: 0.1,
        help: "How much steady, month-on-month activity counts.",
    },
    Weight {
        key: "min_hours_for_credit",
        label: "Minimum hours for credit",
        unit: "hours",
        kind: Kind::Integer,
        min: 0.0,
        max: 100.0,
        default: 1.0,
        help: "Employees below this many hours in the period do not count as participants.",
    },
    Weight {
        key: "recency_half_life_days",
        label: "Recency half-life",
        unit: "days",
        kind: Kind::Integer,
        min: 7.0,
        max: 730.0,
        default: 180.0,
        help: "Activity this many days old counts half as much as today's.",
    },
];

const VIS_SUMMED: &[&str] = &["hours_weight", "participation_weight", "skills_weight", "consistency_weight"];

pub fn catalogue(category: Category) -> &'static [Weight] {
    match category {
        Category::Sroi => SROI,
        Category::Vis => VIS,
    }
}

pub fn find(category: Category, key: &str) -> Option<&'static Weight> {
    catalogue(category).iter().find(|w| w.key == key)
}

/// A company's overrides for one category: only known keys, each in bounds, and the
/// category's cross-weight rules hold for the effective set (defaults plus overrides).
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSet {
    category: Category,
    values: BTreeMap<&'static str, f64>,
}

/// Field errors keyed by weight key (`form` for a rule that spans weights).
pub type WeightErrors = BTreeMap<String, String>;

fn fmt(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn check_value(w: &Weight, v: f64) -> Result<f64, String> {
    if !v.is_finite() {
        return Err("Enter a number.".into());
    }
    let scale = 10f64.powi(w.kind.decimals() as i32);
    if ((v * scale).round() - v * scale).abs() > 1e-6 {
        return Err(match w.kind {
            Kind::Integer => "Enter a whole number.".into(),
            k => format!("Use at most {} decimal places.", k.decimals()),
        });
    }
    if v < w.min || v > w.max {
        return Err(format!("Must be between {} and {} ({}).", fmt(w.min), fmt(w.max), w.unit));
    }
    Ok((v * scale).round() / scale)
}

impl WeightSet {
    /// From the console's form: one text per key; an empty text means "use the default".
    pub fn from_form(category: Category, raw: &BTreeMap<String, String>) -> Result<WeightSet, WeightErrors> {
        let mut errors = WeightErrors::new();
        let mut values = BTreeMap::new();
        for (key, text) in raw {
            let text = text.trim();
            let Some(w) = find(category, key) else {
                errors.insert(key.clone(), unknown(category, key));
                continue;
            };
            if text.is_empty() {
                continue;
            }
            match text.replace(',', "").parse::<f64>().map_err(|_| "Enter a number.".to_string()) {
                Ok(v) => match check_value(w, v) {
                    Ok(v) => {
                        values.insert(w.key, v);
                    }
                    Err(e) => {
                        errors.insert(key.clone(), e);
                    }
                },
                Err(e) => {
                    errors.insert(key.clone(), e);
                }
            }
        }
        Self::finish(category, values, errors)
    }

    /// From JSON (the REST API, a stored version being restored): an object of numbers.
    pub fn from_json(category: Category, json: &serde_json::Value) -> Result<WeightSet, WeightErrors> {
        let mut errors = WeightErrors::new();
        let mut values = BTreeMap::new();
        let Some(obj) = json.as_object() else {
            errors.insert("weights".into(), "Send an object of weight keys to numbers.".into());
            return Err(errors);
        };
        for (key, v) in obj {
            let Some(w) = find(category, key) else {
                errors.insert(key.clone(), unknown(category, key));
                continue;
            };
            match v.as_f64().ok_or_else(|| "Must be a number.".to_string()).and_then(|v| check_value(w, v)) {
                Ok(v) => {
                    values.insert(w.key, v);
                }
                Err(e) => {
                    errors.insert(key.clone(), e);
                }
            }
        }
        Self::finish(category, values, errors)
    }

    fn finish(
        category: Category,
        values: BTreeMap<&'static str, f64>,
        mut errors: WeightErrors,
    ) -> Result<WeightSet, WeightErrors> {
        if !errors.is_empty() {
            return Err(errors);
        }
        let set = WeightSet { category, values };
        let get = |k: &str| set.effective(k);
        match category {
            Category::Sroi => {
                if get("skilled_volunteer_hour_value") < get("volunteer_hour_value") {
                    errors.insert(
                        "skilled_volunteer_hour_value".into(),
                        format!(
                            "A skilled hour cannot be worth less than a general hour ({}).",
                            fmt(get("volunteer_hour_value"))
                        ),
                    );
                }
                if get("deadweight") + get("attribution") >= 1.0 {
                    errors.insert(
                        "form".into(),
                        format!(
                            "Deadweight ({}) and attribution ({}) together must stay below 1, or nothing is left to count.",
                            fmt(get("deadweight")),
                            fmt(get("attribution"))
                        ),
                    );
                }
            }
            Category::Vis => {
                let sum: f64 = VIS_SUMMED.iter().map(|k| get(k)).sum();
                if (sum - 1.0).abs() > 1e-9 {
                    errors.insert(
                        "form".into(),
                        format!(
                            "The four weights (hours, participation, skills, consistency) must sum to 1; they sum to {}.",
                            fmt(sum)
                        ),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    pub fn category(&self) -> Category {
        self.category
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.values.get(key).copied()
    }

    /// The override, or the catalogue's default.
    pub fn effective(&self, key: &str) -> f64 {
        self.get(key).or_else(|| find(self.category, key).map(|w| w.default)).unwrap_or(0.0)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.values {
            map.insert((*k).to_string(), number(*v));
        }
        serde_json::Value::Object(map)
    }

    /// Every known weight with its effective value.
    pub fn effective_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for w in catalogue(self.category) {
            map.insert(w.key.to_string(), number(self.effective(w.key)));
        }
        serde_json::Value::Object(map)
    }
}

/// Whole numbers as JSON integers (40, not 40.0), so stored versions compare and read cleanly.
fn number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

fn unknown(category: Category, key: &str) -> String {
    let known: Vec<_> = catalogue(category).iter().map(|w| w.key).collect();
    format!("\u{201c}{key}\u{201d} is not a known {} weight. Known: {}.", category.label(), known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_satisfy_every_rule() {
        for c in [Category::Sroi, Category::Vis] {
            assert!(WeightSet::from_json(c, &json!({})).is_ok(), "{c:?}");
            for w in catalogue(c) {
                assert!(w.min <= w.default && w.default <= w.max, "{}", w.key);
            }
        }
    }

    #[test]
    fn unknown_keys_out_of_bounds_and_precision_are_refused_per_field() {
        let e = WeightSet::from_form(
            Category::Sroi,
            &form(&[("volunteer_hour_value", "-1"), ("bogus", "1"), ("in_kind_ratio", "0.12345")]),
        )
        .unwrap_err();
        assert!(e["volunteer_hour_value"].contains("between 0 and 500"), "{e:?}");
        assert!(e["bogus"].contains("not a known SROI weight"), "{e:?}");
        assert!(e["in_kind_ratio"].contains("4 decimal"), "{e:?}");
        let e = WeightSet::from_json(Category::Vis, &json!({"min_hours_for_credit": 1.5})).unwrap_err();
        assert_eq!(e["min_hours_for_credit"], "Enter a whole number.");
        let e = WeightSet::from_json(Category::Vis, &json!({"hours_weight": "0.4"})).unwrap_err();
        assert_eq!(e["hours_weight"], "Must be a number.");
    }

    #[test]
    fn rules_across_weights_hold_for_the_effective_set() {
        let e = WeightSet::from_json(Category::Vis, &json!({"hours_weight": 0.5})).unwrap_err();
        assert!(e["form"].contains("sum to 1.1"), "{e:?}");
        let ok = WeightSet::from_json(Category::Vis, &json!({"hours_weight": 0.5, "consistency_weight": 0})).unwrap();
        assert_eq!(ok.effective("hours_weight"), 0.5);
        assert_eq!(ok.effective("skills_weight"), 0.2);
        let e = WeightSet::from_json(Category::Sroi, &json!({"volunteer_hour_value": 90})).unwrap_err();
        assert!(e["skilled_volunteer_hour_value"].contains("less than a general hour"), "{e:?}");
        let e = WeightSet::from_json(Category::Sroi, &json!({"deadweight": 0.5, "attribution": 0.5})).unwrap_err();
        assert!(e["form"].contains("below 1"), "{e:?}");
    }

    #[test]
    fn empty_form_fields_fall_back_to_defaults() {
        let set = WeightSet::from_form(Category::Sroi, &form(&[("volunteer_hour_value", " 40 "), ("deadweight", "")]))
            .unwrap();
        assert_eq!(set.to_json(), json!({"volunteer_hour_value": 40}));
        assert_eq!(set.effective("deadweight"), 0.2);
    }
}
