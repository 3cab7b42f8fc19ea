//! Aptos account addresses.
//!
//! An address is 32 bytes. In text it is `0x` followed by hex; this module accepts every form seen
//! in the wild — long (`0x` + 64 digits), short (`0x1`, `0xcafe`), without `0x`, and the 63-digit
//! form with the leading zero stripped that the Kana REST API returns — and always prints the long
//! form (AIP-40), which is what nodes accept everywhere.
//!
//! Serde: human-readable formats (JSON) use the long `0x…` string; binary formats (BCS) use the 32
//! raw bytes with no length prefix, which is the on-chain encoding.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{AptosError, clip};

/// A 32-byte Aptos account address (also used for object and module addresses).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AccountAddress([u8; 32]);

impl AccountAddress {
    /// Length of an address in bytes.
    pub const LENGTH: usize = 32;
    /// The all-zero address `0x0`.
    pub const ZERO: Self = Self::from_u8(0);
    /// The framework address `0x1` (`aptos_framework`, `std`).
    pub const ONE: Self = Self::from_u8(1);
    /// `0x3` (legacy token framework).
    pub const THREE: Self = Self::from_u8(3);
    /// `0x4` (token objects framework).
    pub const FOUR: Self = Self::from_u8(4);

    const fn from_u8(last: u8) -> Self {
        let mut bytes = [0u8; 32];
        bytes[31] = last;
        Self(bytes)
    }

    /// Wrap 32 raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Build from a byte slice, which must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AptosError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| AptosError::InvalidAddress {
                input: hex::encode(bytes),
                reason: "must be exactly 32 bytes",
            })
    }

    /// Parse `0x`-hex (with or without `0x`, 1–64 digits, short forms left-padded with zeros).
    pub fn from_hex(input: &str) -> Result<Self, AptosError> {
        let err = |reason| AptosError::InvalidAddress {
            input: clip(input),
            reason,
        };
        let digits = input
            .strip_prefix("0x")
            .or_else(|| input.strip_prefix("0X"))
            .unwrap_or(input);
        if digits.is_empty() {
            return Err(err("no hex digits"));
        }
        if digits.len() > 64 {
            return Err(err("more than 64 hex digits"));
        }
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("not a hex string"));
        }
        let mut padded = [b'0'; 64];
        let start = 64 - digits.len();
        padded
            .get_mut(start..)
            .ok_or_else(|| err("more than 64 hex digits"))?
            .copy_from_slice(digits.as_bytes());
        let mut out = [0u8; 32];
        hex::decode_to_slice(padded, &mut out).map_err(|_| err("not a hex string"))?;
        Ok(Self(out))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The raw bytes, by value.
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Long form: `0x` + 64 lowercase hex digits (same as `Display`).
    pub fn to_hex_long(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Short form with leading zeros stripped (`0x1`, `0xcafe`), as used inside Move type strings
    /// and ABI JSON. Never use this when sending an address as an argument: send the long form.
    pub fn to_hex_short(&self) -> String {
        let full = hex::encode(self.0);
        let trimmed = full.trim_start_matches('0');
        if trimmed.is_empty() {
            "0x0".to_owned()
        } else {
            format!("0x{trimmed}")
        }
    }

    /// True for the reserved "special" addresses `0x0`…`0xf`.
    pub fn is_special(&self) -> bool {
        self.0.iter().take(31).all(|b| *b == 0) && self.0.last().is_some_and(|b| *b < 0x10)
    }
}

impl fmt::Display for AccountAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for AccountAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountAddress({self})")
    }
}

impl FromStr for AccountAddress {
    type Err = AptosError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl From<[u8; 32]> for AccountAddress {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for AccountAddress {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

// Written by hand (not derived) because the representation depends on the format: a string for
// JSON, 32 raw bytes (a fixed-size tuple, no length prefix) for BCS.
impl Serialize for AccountAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for AccountAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            Self::from_hex(&s).map_err(D::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1_ADDR: &str = "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d6";

    #[test]
    fn parses_long_short_and_unprefixed() {
        let one = AccountAddress::from_hex("0x1").unwrap();
        assert_eq!(one, AccountAddress::ONE);
        assert_eq!(
            one.to_string(),
            "0x0000000000000000000000000000000000000000000000000000000000000001"
        );
        assert_eq!(one.to_hex_short(), "0x1");
        assert_eq!(AccountAddress::from_hex("1").unwrap(), one);
        assert_eq!(AccountAddress::from_hex("0X01").unwrap(), one);
        let long = AccountAddress::from_hex(&format!("0x{K1_ADDR}")).unwrap();
        assert_eq!(long.to_string(), format!("0x{K1_ADDR}"));
        assert_eq!(AccountAddress::from_hex(K1_ADDR).unwrap(), long);
        assert_eq!(
            AccountAddress::from_hex("0xCAFE").unwrap().to_hex_short(),
            "0xcafe"
        );
        assert_eq!(AccountAddress::ZERO.to_hex_short(), "0x0");
        assert!(AccountAddress::ONE.is_special());
        assert!(!long.is_special());
    }

    #[test]
    fn parses_kana_63_digit_form() {
        // Kana strips the leading zero of an address whose first nibble is 0.
        let full = "0x0a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6";
        let stripped = "0xa38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6";
        assert_eq!(stripped.len(), 2 + 63);
        let a = AccountAddress::from_hex(stripped).unwrap();
        assert_eq!(a.to_string(), full);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in ["", "0x", "0xg1", "0x 1", &"1".repeat(65), "0x-1", "é"] {
            assert!(
                matches!(
                    AccountAddress::from_hex(bad),
                    Err(AptosError::InvalidAddress { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(AccountAddress::from_slice(&[0u8; 31]).is_err());
        assert_eq!(
            AccountAddress::from_slice(&[0u8; 32]).unwrap(),
            AccountAddress::ZERO
        );
    }

    /// Every length of digits, both cases, twenty digit patterns each: the digits are the
    /// address's last nibbles (a short form is left-padded with zeros); a non-hex character
    /// anywhere is refused.
    #[test]
    fn every_length_of_digits_fills_the_address_from_the_right() {
        const DIGITS: &[u8] = b"0123456789abcdefABCDEF";
        const BAD: &[u8] = b"gG z-:";
        for len in 1..=64usize {
            for round in 0..20usize {
                // Strides coprime with the 22 digits: across the rounds each position takes 20.
                let text: String = (0..len)
                    .map(|i| char::from(DIGITS[(i * 7 + round * 5 + len) % DIGITS.len()]))
                    .collect();
                // Nibbles placed from the last byte backwards, the low one first.
                let mut expected = [0u8; 32];
                for (i, c) in text.chars().rev().enumerate() {
                    let nibble = c.to_digit(16).unwrap() as u8;
                    expected[31 - i / 2] |= nibble << (4 * (i % 2));
                }
                assert_eq!(
                    AccountAddress::from_hex(&format!("0x{text}")).unwrap(),
                    AccountAddress(expected),
                    "{text}"
                );
                let mut bad = text.into_bytes();
                let at = (round * 3 + len) % bad.len();
                bad[at] = BAD[round % BAD.len()];
                let bad = String::from_utf8(bad).unwrap();
                assert!(AccountAddress::from_hex(&bad).is_err(), "{bad}");
            }
        }
    }

    #[test]
    fn bcs_is_32_raw_bytes() {
        let a = AccountAddress::from_hex(K1_ADDR).unwrap();
        let bytes = bcs::to_bytes(&a).unwrap();
        assert_eq!(hex::encode(&bytes), K1_ADDR);
        let back: AccountAddress = bcs::from_bytes(&bytes).unwrap();
        assert_eq!(back, a);
        // §1: vec<address>[0x1] → 01 + 31×00 + 01
        let v = bcs::to_bytes(&vec![AccountAddress::ONE]).unwrap();
        assert_eq!(hex::encode(v), format!("01{}01", "00".repeat(31)));
        assert!(bcs::from_bytes::<AccountAddress>(&[0u8; 31]).is_err());
    }

    #[test]
    fn json_is_long_string() {
        let a = AccountAddress::ONE;
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, format!("\"0x{}01\"", "00".repeat(31)));
        let back: AccountAddress = serde_json::from_str("\"0x1\"").unwrap();
        assert_eq!(back, a);
        assert!(serde_json::from_str::<AccountAddress>("\"nothex\"").is_err());
        assert!(serde_json::from_str::<AccountAddress>("1").is_err());
    }
}
