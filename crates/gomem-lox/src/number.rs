//! Number printing exactly as clox's `printf("%g", x)` (glibc): six
//! significant digits, `%e` style when the decimal exponent is below -4 or
//! at least 6, trailing zeros and a trailing point removed, exponents with a
//! sign and at least two digits, and `inf`/`-inf`/`nan`/`-nan`.
//!
//! Rust's `{:.5e}` rounds exactly (round-half-even on the exact binary
//! value, as glibc does), so the digits come from it and only the layout is
//! done here.

/// Significant digits of `%g` without an explicit precision.
const G_PRECISION: i32 = 6;
/// Smallest exponent `%g` still prints in plain (`%f`) style.
const G_MIN_PLAIN_EXPONENT: i32 = -4;

/// Formats `x` as C's `printf("%g", x)`.
pub fn format_g(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    // One digit before the point, P-1 after: the exponent after rounding.
    let e_form = format!("{:.*e}", (G_PRECISION - 1) as usize, x);
    let (mantissa, exp) = e_form.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    if (G_MIN_PLAIN_EXPONENT..G_PRECISION).contains(&exp) {
        let decimals = (G_PRECISION - 1 - exp) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip_zeros(mantissa), sign, exp.abs())
    }
}

/// Removes trailing zeros after a decimal point, then the point itself.
fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn matches_printf_g() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (123.0, "123"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (1e6, "1e+06"),
            (999999.5, "1e+06"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0 / 3.0, "0.333333"),
            (2.0 / 3.0, "0.666667"),
            (1e100, "1e+100"),
            (1.5e-300, "1.5e-300"),
            (1.23456789, "1.23457"),
            (100.25, "100.25"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(x, want) in cases {
            assert_eq!(format_g(x), want, "format_g({x})");
        }
    }
}
