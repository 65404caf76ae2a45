/// RFC 3339 timestamps as the API-Bridge's Go service writes them
/// (`time.RFC3339Nano`): `2025-07-05T14:31:51.123456789Z`, any number of
/// fraction digits or none, `Z` or a `±hh:mm` offset, `T` or `t` or a space
/// between date and time. Parsed by hand so the result does not depend on
/// the platform's date formatter.
enum RFC3339 {
    /// Whole seconds since 1970-01-01T00:00:00Z (the fraction is dropped);
    /// nil for anything that is not such a timestamp.
    static func unixSeconds(_ text: String) -> Int64? {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.number(digits: 4), scanner.skip("-"),
              let month = scanner.number(digits: 2), scanner.skip("-"),
              let day = scanner.number(digits: 2), scanner.skip("T") || scanner.skip("t") || scanner.skip(" "),
              let hour = scanner.number(digits: 2), scanner.skip(":"),
              let minute = scanner.number(digits: 2), scanner.skip(":"),
              let second = scanner.number(digits: 2)
        else { return nil }
        if scanner.skip(".") {
            guard scanner.skipDigits() > 0 else { return nil }
        }
        var offset: Int64 = 0
        if !(scanner.skip("Z") || scanner.skip("z")) {
            let sign: Int64 = scanner.skip("+") ? 1 : (scanner.skip("-") ? -1 : 0)
            guard sign != 0, let h = scanner.number(digits: 2), scanner.skip(":"), let m = scanner.number(digits: 2),
                  h < 24, m < 60 else { return nil }
            offset = sign * (h * 3600 + m * 60)
        }
        guard scanner.atEnd, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second <= 60 else { return nil }
        return daysSinceEpoch(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second - offset
    }

    private static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the civil date (proleptic Gregorian; H. Hinnant's algorithm).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Reads ASCII bytes left to right.
    private struct Scanner {
        let bytes: [UInt8]
        var at = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { at == bytes.count }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            guard at < bytes.count, bytes[at] == UInt8(character.value) else { return false }
            at += 1
            return true
        }

        /// Exactly `digits` decimal digits.
        mutating func number(digits: Int) -> Int64? {
            guard at + digits <= bytes.count else { return nil }
            var value: Int64 = 0
            for b in bytes[at..<at + digits] {
                guard (48...57).contains(b) else { return nil }
                value = value * 10 + Int64(b - 48)
            }
            at += digits
            return value
        }

        /// Any run of digits; returns how many.
        mutating func skipDigits() -> Int {
            let start = at
            while at < bytes.count, (48...57).contains(bytes[at]) { at += 1 }
            return at - start
        }
    }
}
