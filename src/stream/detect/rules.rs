//! Compound rules written in config, e.g.
//! `light == on && presence == 0 for >= 60s` or
//! `pm2_5 > 35 && temperature rising`.
//!
//! Grammar (whitespace between tokens is free):
//!
//! ```text
//! rule       := or ( "for" [">="] DURATION )?
//! or         := and ( ("||" | "or") and )*
//! and        := unary ( ("&&" | "and") unary )*
//! unary      := ("!" | "not") unary | "(" or ")" | NAME ("rising" | "falling") | value CMP value
//! value      := NUMBER | "on" | "off" | "true" | "false" | NAME
//! CMP        := "==" | "!=" | ">" | ">=" | "<" | "<="
//! ```
//!
//! Names: a detector channel (`pm2_5`, `temperature_c`; `temperature` and
//! `humidity` mean the detector's own), a feature (`pm2_5__delta`,
//! `pm2_5__z_60s`), `fire_probability`, and the room's latest state
//! (`light`, `presence`, `room.temperature`, `room.humidity`). A missing
//! value makes a comparison unknown, and a rule fires only when it is
//! known to be true (SQL's three-valued logic).
//!
//! A rule that names anything of a reading is evaluated per device on each
//! of its readings; a rule over room state alone is evaluated per room on
//! each of its room events.

use crate::features::{Feature, FeatureKind};
use crate::schema::{Channel, RoomSensorKind};

/// Why a rule could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rule {rule:?}, column {column}: {message}")]
pub struct RuleError {
    pub rule: String,
    /// 1-based character position in the rule text.
    pub column: usize,
    pub message: String,
}

/// Something a rule can read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    Number(f64),
    Channel(Channel),
    Feature(Feature),
    FireProbability,
    Room(RoomSensorKind),
}

impl Operand {
    fn is_reading(&self) -> bool {
        matches!(
            self,
            Operand::Channel(_) | Operand::Feature(_) | Operand::FireProbability
        )
    }

    /// The name as written in rules and alert values.
    pub fn name(&self) -> String {
        match self {
            Operand::Number(n) => n.to_string(),
            Operand::Channel(c) => c.key().to_string(),
            Operand::Feature(f) => f.to_string(),
            Operand::FireProbability => "fire_probability".into(),
            Operand::Room(k) => format!("room.{}", k.key()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn apply(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Compare(Operand, Cmp, Operand),
    /// `x rising` (true) / `x falling` (false): the sign of x's delta.
    Trend(Channel, bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// Looks operands up; `None` is a missing value.
pub trait Lookup {
    fn value(&self, operand: &Operand) -> Option<f64>;
    /// Change per second of a detector channel.
    fn delta(&self, channel: Channel) -> Option<f64>;
}

impl Expr {
    /// Three-valued evaluation: `None` is unknown.
    pub fn eval(&self, ctx: &dyn Lookup) -> Option<bool> {
        match self {
            Expr::Compare(a, cmp, b) => {
                let value = |o: &Operand| match o {
                    Operand::Number(n) => Some(*n),
                    other => ctx.value(other).filter(|v| !v.is_nan()),
                };
                Some(cmp.apply(value(a)?, value(b)?))
            }
            Expr::Trend(c, rising) => {
                let d = ctx.delta(*c).filter(|d| !d.is_nan())?;
                Some(if *rising { d > 0.0 } else { d < 0.0 })
            }
            Expr::Not(e) => e.eval(ctx).map(|b| !b),
            Expr::And(a, b) => match (a.eval(ctx), b.eval(ctx)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (a.eval(ctx), b.eval(ctx)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        }
    }

    /// Every operand read (for the alert's triggering values).
    pub fn operands(&self, out: &mut Vec<Operand>) {
        match self {
            Expr::Compare(a, _, b) => {
                for o in [a, b] {
                    if !matches!(o, Operand::Number(_)) && !out.contains(o) {
                        out.push(*o);
                    }
                }
            }
            Expr::Trend(c, _) => {
                let o = Operand::Channel(*c);
                if !out.contains(&o) {
                    out.push(o);
                }
            }
            Expr::Not(e) => e.operands(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.operands(out);
                b.operands(out);
            }
        }
    }

    fn reads_reading(&self) -> bool {
        match self {
            Expr::Compare(a, _, b) => a.is_reading() || b.is_reading(),
            Expr::Trend(..) => true,
            Expr::Not(e) => e.reads_reading(),
            Expr::And(a, b) | Expr::Or(a, b) => a.reads_reading() || b.reads_reading(),
        }
    }
}

/// What a rule is evaluated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Device,
    Room,
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub expr: Expr,
    /// The condition must hold this long (event time) before the rule fires.
    pub hold_ms: i64,
    pub scope: Scope,
}

impl Rule {
    pub fn parse(name: &str, text: &str) -> Result<Rule, RuleError> {
        let tokens = lex(text).map_err(|(column, message)| RuleError {
            rule: name.to_string(),
            column,
            message,
        })?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end_column: text.chars().count() + 1,
        };
        let result = p.rule();
        let (expr, hold_ms) = result.map_err(|(column, message)| RuleError {
            rule: name.to_string(),
            column,
            message,
        })?;
        let scope = if expr.reads_reading() {
            Scope::Device
        } else {
            Scope::Room
        };
        Ok(Rule {
            name: name.to_string(),
            expr,
            hold_ms,
            scope,
        })
    }

    /// The features the rule reads (the features stage must compute them).
    pub fn features(&self) -> Vec<Feature> {
        let mut ops = Vec::new();
        self.expr.operands(&mut ops);
        ops.into_iter()
            .filter_map(|o| match o {
                Operand::Feature(f) => Some(f),
                _ => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Duration(i64),
    Op(&'static str),
}

type Spanned = (usize, Tok);
type PResult<T> = Result<T, (usize, String)>;

fn lex(text: &str) -> PResult<Vec<Spanned>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && chars[i].is_ascii_alphabetic() {
                while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let d = humantime::parse_duration(&word).map_err(|_| {
                    (
                        column,
                        format!("{word:?} is not a duration (write e.g. 60s, 5m)"),
                    )
                })?;
                let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
                out.push((column, Tok::Duration(ms)));
            } else {
                let word: String = chars[start..i].iter().collect();
                let n = word
                    .parse::<f64>()
                    .map_err(|_| (column, format!("{word:?} is not a number")))?;
                out.push((column, Tok::Num(n)));
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push((column, Tok::Name(chars[start..i].iter().collect())));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op = ["==", "!=", ">=", "<=", "&&", "||"]
            .into_iter()
            .find(|op| *op == two)
            .or_else(|| {
                [">", "<", "!", "(", ")"]
                    .into_iter()
                    .find(|op| op.starts_with(c))
            });
        match op {
            Some(op) => {
                i += op.len();
                out.push((column, Tok::Op(op)));
            }
            None => return Err((column, format!("unexpected character {c:?}"))),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.end_column, |(c, _)| *c)
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the rule".into(),
            Some(Tok::Num(n)) => format!("number {n}"),
            Some(Tok::Name(n)) => format!("{n:?}"),
            Some(Tok::Duration(_)) => "a duration".into(),
            Some(Tok::Op(op)) => format!("'{op}'"),
        }
    }

    fn is_word(&self, words: &[&str]) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if words.contains(&n.as_str()))
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn rule(&mut self) -> PResult<(Expr, i64)> {
        let expr = self.or()?;
        let mut hold = 0;
        if self.is_word(&["for"]) {
            self.pos += 1;
            if self.is_op(">=") {
                self.pos += 1;
            }
            match self.peek() {
                Some(Tok::Duration(ms)) => {
                    hold = *ms;
                    self.pos += 1;
                }
                _ => {
                    return Err((
                        self.column(),
                        format!("expected a duration after 'for', found {}", self.describe()),
                    ));
                }
            }
        }
        if self.peek().is_some() {
            return Err((
                self.column(),
                format!("expected '&&', '||' or 'for', found {}", self.describe()),
            ));
        }
        Ok((expr, hold))
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut left = self.and()?;
        while self.is_op("||") || self.is_word(&["or"]) {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut left = self.unary()?;
        while self.is_op("&&") || self.is_word(&["and"]) {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> PResult<Expr> {
        if self.is_op("!") || self.is_word(&["not"]) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.is_op("(") {
            self.pos += 1;
            let inner = self.or()?;
            if !self.is_op(")") {
                return Err((
                    self.column(),
                    format!("expected ')', found {}", self.describe()),
                ));
            }
            self.pos += 1;
            return Ok(inner);
        }
        let column = self.column();
        let left = self.value()?;
        if self.is_word(&["rising", "falling"]) {
            let rising = self.is_word(&["rising"]);
            return match left {
                Operand::Channel(c) => {
                    self.pos += 1;
                    Ok(Expr::Trend(c, rising))
                }
                _ => Err((
                    column,
                    "'rising'/'falling' need a detector channel such as pm2_5 or temperature"
                        .into(),
                )),
            };
        }
        let cmp = match self.peek() {
            Some(Tok::Op("==")) => Cmp::Eq,
            Some(Tok::Op("!=")) => Cmp::Ne,
            Some(Tok::Op(">")) => Cmp::Gt,
            Some(Tok::Op(">=")) => Cmp::Ge,
            Some(Tok::Op("<")) => Cmp::Lt,
            Some(Tok::Op("<=")) => Cmp::Le,
            _ => {
                return Err((
                    self.column(),
                    format!(
                        "expected a comparison (==, !=, >, >=, <, <=) or rising/falling, found {}",
                        self.describe()
                    ),
                ));
            }
        };
        self.pos += 1;
        let right = self.value()?;
        Ok(Expr::Compare(left, cmp, right))
    }

    fn value(&mut self) -> PResult<Operand> {
        let column = self.column();
        let operand = match self.peek() {
            Some(Tok::Num(n)) => Operand::Number(*n),
            Some(Tok::Name(name)) => resolve(name).map_err(|m| (column, m))?,
            _ => {
                return Err((
                    column,
                    format!("expected a value or a name, found {}", self.describe()),
                ));
            }
        };
        self.pos += 1;
        Ok(operand)
    }
}

fn resolve(name: &str) -> Result<Operand, String> {
    let room = |k| Ok(Operand::Room(k));
    match name {
        "on" | "true" => return Ok(Operand::Number(1.0)),
        "off" | "false" => return Ok(Operand::Number(0.0)),
        "temperature" => return Ok(Operand::Channel(Channel::Temperature)),
        "humidity" => return Ok(Operand::Channel(Channel::Humidity)),
        "fire_probability" => return Ok(Operand::FireProbability),
        "light" | "room.light" => return room(RoomSensorKind::Light),
        "presence" | "room.presence" => return room(RoomSensorKind::Presence),
        "room.temperature" => return room(RoomSensorKind::Temperature),
        "room.humidity" => return room(RoomSensorKind::Humidity),
        _ => {}
    }
    if let Some(c) = Channel::from_name(name) {
        return Ok(Operand::Channel(c));
    }
    if name.contains("__") {
        let feature: Feature = name.parse()?;
        return match feature.kind {
            FeatureKind::Raw => Ok(Operand::Channel(feature.channel)),
            _ => Ok(Operand::Feature(feature)),
        };
    }
    Err(format!(
        "unknown name {name:?} (a channel such as pm2_5, a feature such as pm2_5__z_60s, \
         fire_probability, light, presence, room.temperature, room.humidity)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_home_rule_parses_with_its_hold_time_and_room_scope() {
        let rule = Rule::parse("r", "light == on && presence == 0 for >= 60s").unwrap();
        assert_eq!(rule.hold_ms, 60_000);
        assert_eq!(rule.scope, Scope::Room);
        assert_eq!(
            rule.expr,
            Expr::And(
                Box::new(Expr::Compare(
                    Operand::Room(RoomSensorKind::Light),
                    Cmp::Eq,
                    Operand::Number(1.0)
                )),
                Box::new(Expr::Compare(
                    Operand::Room(RoomSensorKind::Presence),
                    Cmp::Eq,
                    Operand::Number(0.0)
                )),
            )
        );
    }

    #[test]
    fn trend_rule_is_device_scoped() {
        let rule = Rule::parse("r", "pm2_5 > 35 && temperature rising").unwrap();
        assert_eq!(rule.scope, Scope::Device);
        assert_eq!(rule.hold_ms, 0);
        let rule = Rule::parse("r", "not (pm2_5__z_60s >= 4 or tvoc_ppb > 9)").unwrap();
        assert_eq!(rule.features().len(), 1);
    }

    #[test]
    fn errors_name_the_rule_and_the_column() {
        let err = Rule::parse("smoke", "pm2_5 > && x").unwrap_err();
        assert_eq!((err.rule.as_str(), err.column), ("smoke", 9));
        assert!(err.message.contains("expected a value"), "{err}");
        let err = Rule::parse("r", "pm25 > 3").unwrap_err();
        assert_eq!(err.column, 1);
        assert!(err.message.contains("unknown name \"pm25\""), "{err}");
        let err = Rule::parse("r", "light == on for").unwrap_err();
        assert_eq!(err.column, 16);
        let err = Rule::parse("r", "(light == on").unwrap_err();
        assert!(err.message.contains("expected ')'"), "{err}");
        let err = Rule::parse("r", "light == on $").unwrap_err();
        assert_eq!(err.column, 13);
        let err = Rule::parse("r", "light rising").unwrap_err();
        assert!(err.message.contains("detector channel"), "{err}");
    }

    struct Fixed(Vec<(Operand, f64)>);
    impl Lookup for Fixed {
        fn value(&self, operand: &Operand) -> Option<f64> {
            self.0.iter().find(|(o, _)| o == operand).map(|(_, v)| *v)
        }
        fn delta(&self, _channel: Channel) -> Option<f64> {
            None
        }
    }

    #[test]
    fn missing_values_are_unknown_not_false() {
        let rule = Rule::parse("r", "!(pm2_5 > 10)").unwrap();
        assert_eq!(rule.expr.eval(&Fixed(vec![])), None);
        let rule = Rule::parse("r", "pm2_5 > 10 || light == on").unwrap();
        let ctx = Fixed(vec![(Operand::Room(RoomSensorKind::Light), 1.0)]);
        assert_eq!(rule.expr.eval(&ctx), Some(true));
        let rule = Rule::parse("r", "pm2_5 > 10 && light == on").unwrap();
        assert_eq!(rule.expr.eval(&ctx), None);
    }
}
