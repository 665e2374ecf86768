//! SIRET: the 14-digit identifier of an establishment, kept as text (leading zeros matter).

use std::fmt;

/// A SIRET whose check digit is valid. The only constructor is [`Siret::parse`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Siret([u8; 14]);

/// Why a text is not a SIRET.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiretError {
    /// Not 14 digits once spaces are removed.
    #[error("a SIRET has 14 digits; got {0:?}")]
    Format(String),
    /// 14 digits whose check digit is wrong.
    #[error("{0} fails the SIRET check digit")]
    CheckDigit(String),
}

/// The SIREN of La Poste, whose establishments follow their own check rule.
const LA_POSTE: &[u8; 9] = b"356000000";

impl Siret {
    /// Parses a SIRET: 14 digits, spaces ignored (`"343 294 195 00239"`), check digit verified
    /// (Luhn over the 14 digits; La Poste: the digit sum is a multiple of 5).
    pub fn parse(text: &str) -> Result<Self, SiretError> {
        let mut digits = [0u8; 14];
        let mut n = 0;
        for c in text.trim().chars() {
            match c {
                ' ' | '\u{a0}' | '\u{202f}' => continue,
                '0'..='9' if n < 14 => {
                    digits[n] = c as u8;
                    n += 1;
                }
                _ => return Err(SiretError::Format(text.to_owned())),
            }
        }
        if n != 14 {
            return Err(SiretError::Format(text.to_owned()));
        }
        let siret = Siret(digits);
        if !siret.check_digit_ok() {
            return Err(SiretError::CheckDigit(siret.as_str().to_owned()));
        }
        Ok(siret)
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).expect("ASCII digits")
    }

    /// The SIREN: the company's 9 digits.
    pub fn siren(&self) -> &str {
        &self.as_str()[..9]
    }

    fn check_digit_ok(&self) -> bool {
        if &self.0[..9] == LA_POSTE {
            let sum: u32 = self.0.iter().map(|d| u32::from(d - b'0')).sum();
            return sum.is_multiple_of(5);
        }
        // Luhn: from the right, every second digit doubled.
        let sum: u32 = self
            .0
            .iter()
            .rev()
            .enumerate()
            .map(|(i, d)| {
                let d = u32::from(d - b'0');
                if i % 2 == 1 {
                    let x = d * 2;
                    if x > 9 { x - 9 } else { x }
                } else {
                    d
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }
}

impl fmt::Display for Siret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Siret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Siret({})", self.as_str())
    }
}

impl std::str::FromStr for Siret {
    type Err = SiretError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Siret::parse(s)
    }
}

impl serde::Serialize for Siret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Siret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Siret::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sirets_pass_and_altered_ones_fail() {
        for ok in ["34329419500239", "00638004200033", "343 294 195 00239"] {
            assert!(Siret::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            Siret::parse("00638004200033").unwrap().as_str(),
            "00638004200033",
            "leading zeros are kept"
        );
        assert!(matches!(
            Siret::parse("34329419500238"),
            Err(SiretError::CheckDigit(_))
        ));
        for bad in ["", "3432941950023", "343294195002390", "3432941950023X"] {
            assert!(
                matches!(Siret::parse(bad), Err(SiretError::Format(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn la_poste_uses_the_digit_sum_rule() {
        // 3+5+6 + 0… + digits: 35600000000048 sums to 3+5+6+4+8 = 26 (no); 35600000000010
        // sums to 15 (yes) but fails Luhn.
        assert!(Siret::parse("35600000000010").is_ok());
        assert!(Siret::parse("35600000000048").is_err());
    }
}
