using System.Globalization;

namespace Runnel.Analytics.Sql;

/// <summary>
/// Recursive-descent parser of application code: CREATE [OR REPLACE] STREAM and CREATE [OR REPLACE] PUMP ... AS
/// INSERT INTO ... SELECT STREAM, separated by semicolons. Every error names the token it stopped at.
/// </summary>
internal sealed class Parser
{
    private readonly List<Token> _tokens;
    private int _pos;

    private Parser(string code) => _tokens = Lexer.Tokenize(code);

    public static List<Statement> ParseScript(string code)
    {
        var p = new Parser(code);
        var statements = new List<Statement>();
        while (true)
        {
            while (p.Peek.IsSymbol(";"))
                p._pos++;
            if (p.Peek.Kind == TokenKind.End)
                return statements;
            statements.Add(p.ParseStatement());
            if (!p.Peek.IsSymbol(";") && p.Peek.Kind != TokenKind.End)
                throw p.Error($"Expected ';' or the end of the code but found {p.Peek}.");
        }
    }

    /// <summary>One expression alone (tests and the query API).</summary>
    internal static Expr ParseExpression(string text)
    {
        var p = new Parser(text);
        var e = p.ParseExpr();
        if (p.Peek.Kind != TokenKind.End)
            throw p.Error($"Unexpected {p.Peek} after the expression.");
        return e;
    }

    private Token Peek => _tokens[_pos];

    private Token PeekAt(int ahead) => _tokens[Math.Min(_pos + ahead, _tokens.Count - 1)];

    private Token Next() => _tokens[_pos++ < _tokens.Count - 1 ? _pos - 1 : _tokens.Count - 1];

    private SqlException Error(string reason, Token? at = null)
    {
        var t = at ?? Peek;
        return new SqlException(t.Line, t.Column, reason);
    }

    private bool Accept(string keyword)
    {
        if (!Peek.Is(keyword))
            return false;
        _pos++;
        return true;
    }

    private bool AcceptSymbol(string symbol)
    {
        if (!Peek.IsSymbol(symbol))
            return false;
        _pos++;
        return true;
    }

    private Token Expect(string keyword)
    {
        if (!Peek.Is(keyword))
            throw Error($"Expected {keyword} but found {Peek}.");
        return Next();
    }

    private Token ExpectSymbol(string symbol)
    {
        if (!Peek.IsSymbol(symbol))
            throw Error($"Expected '{symbol}' but found {Peek}.");
        return Next();
    }

    private static readonly HashSet<string> Reserved =
    [
        "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "AS", "AND", "OR", "NOT", "INSERT", "INTO", "CREATE", "PUMP",
        "STREAM", "ON", "JOIN", "LEFT", "WINDOW", "ORDER", "UNION", "CASE", "WHEN", "THEN", "ELSE", "END", "IS", "NULL",
        "LIKE", "SIMILAR", "BETWEEN", "IN", "OVER", "PARTITION", "WINDOWED", "INNER", "OUTER", "RIGHT", "FULL", "CROSS",
    ];

    private (string Name, Token At) Identifier(string what)
    {
        var t = Peek;
        if (t.Kind == TokenKind.QuotedIdentifier || (t.Kind == TokenKind.Identifier && !Reserved.Contains(t.Text)))
        {
            _pos++;
            return (t.Text, t);
        }
        throw Error($"Expected {what} but found {t}.");
    }

    private Statement ParseStatement()
    {
        if (Peek.Is("ALTER"))
            return ParseAlterStream();
        var at = Expect("CREATE");
        if (Accept("OR"))
            Expect("REPLACE");
        if (Accept("STREAM"))
            return ParseCreateStream(at);
        if (Accept("PUMP"))
            return ParseCreatePump(at);
        throw Error(Peek.Is("TABLE") || Peek.Is("VIEW")
            ? $"CREATE {Peek.Text} is not supported; in-application streams and pumps are."
            : $"Expected STREAM or PUMP after CREATE but found {Peek}.");
    }

    private CreateStreamStatement ParseCreateStream(Token at)
    {
        var (name, _) = Identifier("a stream name");
        ExpectSymbol("(");
        var columns = new List<SqlColumn>();
        WatermarkSpec? watermark = null;
        do
        {
            if (Peek.Is("WATERMARK") && PeekAt(1).Is("FOR"))
            {
                if (watermark is not null)
                    throw Error("A stream has one WATERMARK.");
                watermark = ParseWatermark();
                continue;
            }
            var (column, columnAt) = Identifier("a column name");
            if (columns.Any(c => c.Name == column))
                throw Error($"Column {column} is declared twice.", columnAt);
            var (kind, text) = ParseType();
            columns.Add(new SqlColumn(column, kind, text));
        }
        while (AcceptSymbol(","));
        ExpectSymbol(")");
        if (Accept("DESCRIPTION"))
        {
            if (Next().Kind != TokenKind.String)
                throw Error("Expected a string after DESCRIPTION.", _tokens[_pos - 1]);
        }
        return new CreateStreamStatement(at, name, columns, watermark);
    }

    /// <summary><c>ALTER STREAM name ADD WATERMARK FOR ...</c> (Flink's ALTER TABLE ... ADD WATERMARK).</summary>
    private AlterWatermarkStatement ParseAlterStream()
    {
        var at = Expect("ALTER");
        if (!Accept("STREAM"))
            throw Error($"Expected STREAM after ALTER but found {Peek}.");
        var (stream, streamAt) = Identifier("a stream name");
        if (!Accept("ADD"))
            throw Error($"Expected ADD WATERMARK FOR ... but found {Peek}; ALTER STREAM only declares a watermark.");
        return new AlterWatermarkStatement(at, stream, streamAt, ParseWatermark());
    }

    /// <summary>
    /// <c>WATERMARK FOR col AS col [- INTERVAL 'd' unit] [ALLOWED LATENESS INTERVAL 'l' unit]</c>. The expression is
    /// Flink's bounded-out-of-orderness form: the column itself, or the column minus a constant interval.
    /// </summary>
    private WatermarkSpec ParseWatermark()
    {
        var at = Expect("WATERMARK");
        Expect("FOR");
        var (column, columnAt) = Identifier("the event-time column");
        Expect("AS");
        var expr = ParseExpr();
        var delay = expr switch
        {
            ColumnExpr c when c.Qualifier is null && c.Name == column => TimeSpan.Zero,
            BinaryExpr { Op: "-", Left: ColumnExpr c, Right: LiteralExpr { Value: TimeSpan d } } when c.Qualifier is null && c.Name == column => d,
            _ => throw Error($"A watermark is {column} or {column} - INTERVAL 'n' unit.", expr.At),
        };
        if (delay < TimeSpan.Zero)
            throw Error("A watermark's delay cannot be negative.", expr.At);
        var lateness = TimeSpan.Zero;
        if (Peek.Is("ALLOWED"))
        {
            _pos++;
            Expect("LATENESS");
            var intervalAt = Expect("INTERVAL");
            lateness = ParseIntervalBody(intervalAt);
            if (lateness < TimeSpan.Zero)
                throw Error("Allowed lateness cannot be negative.", intervalAt);
        }
        return new WatermarkSpec(at, column, columnAt, delay, lateness);
    }

    /// <summary>A column type; lengths and precisions are accepted and not enforced.</summary>
    private (SqlKind Kind, string Text) ParseType()
    {
        var t = Peek;
        if (t.Kind != TokenKind.Identifier)
            throw Error($"Expected a type but found {t}.");
        _pos++;
        var name = t.Text;
        if (name == "DOUBLE")
        {
            Accept("PRECISION");
        }
        else if (name == "CHARACTER" && Accept("VARYING"))
        {
            name = "VARCHAR";
        }
        var kind = KindOf(name) ?? throw Error($"Unknown type {name}.", t);
        var text = name;
        if (AcceptSymbol("("))
        {
            var args = new List<string>();
            do
            {
                var n = Next();
                if (n.Kind != TokenKind.Number)
                    throw Error($"Expected a number in the type's parameters but found {n}.", n);
                args.Add(n.Text);
            }
            while (AcceptSymbol(","));
            ExpectSymbol(")");
            text += "(" + string.Join(",", args) + ")";
        }
        return (kind, text);
    }

    internal static SqlKind? KindOf(string type) => type switch
    {
        "VARCHAR" or "CHAR" or "CHARACTER" or "STRING" => SqlKind.Varchar,
        "INTEGER" or "INT" or "BIGINT" or "SMALLINT" or "TINYINT" => SqlKind.Integer,
        "DOUBLE" or "REAL" or "FLOAT" or "DECIMAL" or "NUMERIC" => SqlKind.Double,
        "BOOLEAN" => SqlKind.Boolean,
        "TIMESTAMP" or "DATE" or "TIME" => SqlKind.Timestamp,
        _ => null,
    };

    private CreatePumpStatement ParseCreatePump(Token at)
    {
        var (name, _) = Identifier("a pump name");
        Accept("STOPPED");
        Expect("AS");
        Expect("INSERT");
        Expect("INTO");
        var (target, targetAt) = Identifier("a stream name");
        List<string>? columns = null;
        if (AcceptSymbol("("))
        {
            columns = [];
            do
                columns.Add(Identifier("a column name").Name);
            while (AcceptSymbol(","));
            ExpectSymbol(")");
        }
        var select = ParseSelect();
        return new CreatePumpStatement(at, name, target, targetAt, columns, select);
    }

    private SelectStatement ParseSelect()
    {
        var at = Expect("SELECT");
        if (!Accept("STREAM"))
            throw Error("A pump's query reads a stream: expected SELECT STREAM.", Peek);
        Accept("ALL");
        var items = new List<SelectItem>();
        do
        {
            var itemAt = Peek;
            if (AcceptSymbol("*"))
            {
                items.Add(new SelectItem(null, null, itemAt));
                continue;
            }
            var value = ParseExpr();
            string? alias = null;
            if (Accept("AS"))
                alias = Identifier("a column alias").Name;
            else if (Peek.Kind == TokenKind.QuotedIdentifier || (Peek.Kind == TokenKind.Identifier && !Reserved.Contains(Peek.Text)))
                alias = Identifier("a column alias").Name;
            items.Add(new SelectItem(value, alias, itemAt));
        }
        while (AcceptSymbol(","));
        Expect("FROM");
        TableFunctionCall? function = null;
        string from;
        Token fromAt;
        if (Peek.Is("TABLE") && PeekAt(1).IsSymbol("("))
        {
            function = ParseTableFunction();
            (from, fromAt) = (function.Name, function.At);
        }
        else if (Peek.IsSymbol("(") || Peek.Is("TABLE"))
        {
            throw Error("Subqueries in FROM are not supported; read an in-application stream or TABLE(function(CURSOR(SELECT STREAM ...), ...)).");
        }
        else
        {
            (from, fromAt) = Identifier("a stream name");
        }
        string? alias2 = null;
        if (Accept("AS"))
            alias2 = Identifier("an alias").Name;
        else if (Peek.Kind == TokenKind.QuotedIdentifier || (Peek.Kind == TokenKind.Identifier && !Reserved.Contains(Peek.Text)))
            alias2 = Identifier("an alias").Name;
        var join = ParseJoin();
        var where = Accept("WHERE") ? ParseExpr() : null;
        WindowSpec? stagger = null;
        if (Peek.Is("WINDOWED"))
        {
            var staggerAt = Next();
            Expect("BY");
            Expect("STAGGER");
            stagger = ParseWindowSpec(staggerAt, rowsAllowed: false);
        }
        var groupBy = new List<Expr>();
        if (Peek.Is("GROUP") && stagger is not null)
            throw Error("A query has either WINDOWED BY STAGGER or GROUP BY, not both.");
        if (Accept("GROUP"))
        {
            Expect("BY");
            do
                groupBy.Add(ParseExpr());
            while (AcceptSymbol(","));
        }
        var having = Accept("HAVING") ? ParseExpr() : null;
        var windows = new Dictionary<string, WindowSpec>(StringComparer.Ordinal);
        if (Accept("WINDOW"))
        {
            do
            {
                var (windowName, windowAt) = Identifier("a window name");
                if (windows.ContainsKey(windowName))
                    throw Error($"Window {windowName} is defined twice.", windowAt);
                Expect("AS");
                windows[windowName] = ParseWindowSpec(windowAt, rowsAllowed: true);
            }
            while (AcceptSymbol(","));
        }
        if (Peek.Is("ORDER") || Peek.Is("UNION") || Peek.Is("WINDOWED"))
            throw Error($"{Peek.Text} is not supported {(Peek.Is("WINDOWED") ? "here; WINDOWED BY comes after WHERE" : "yet")}.");
        return new SelectStatement(at, items, from, alias2, fromAt, where, groupBy, having, windows, stagger, join, function);
    }

    /// <summary><c>TABLE(name(CURSOR(SELECT STREAM ...), arg, ...))</c>; a comma before the closing parenthesis is allowed, as in AWS's syntax.</summary>
    private TableFunctionCall ParseTableFunction()
    {
        Expect("TABLE");
        ExpectSymbol("(");
        var (name, at) = Identifier("a table function");
        ExpectSymbol("(");
        if (!Accept("CURSOR"))
            throw Error($"Expected CURSOR(SELECT STREAM ...) as {name}'s first argument but found {Peek}.");
        ExpectSymbol("(");
        var cursor = ParseSelect();
        ExpectSymbol(")");
        var args = new List<Expr>();
        while (AcceptSymbol(","))
        {
            if (Peek.IsSymbol(")"))
                break;
            args.Add(ParseExpr());
        }
        ExpectSymbol(")");
        ExpectSymbol(")");
        return new TableFunctionCall(at, name, cursor, args);
    }

    /// <summary><c>[INNER] JOIN table [AS alias] ON condition</c> or <c>LEFT [OUTER] JOIN ...</c>, of a reference table.</summary>
    private JoinClause? ParseJoin()
    {
        if (Peek.IsSymbol(",") || Peek.Is("RIGHT") || Peek.Is("FULL") || Peek.Is("CROSS"))
            throw Error($"{(Peek.IsSymbol(",") ? "A comma join" : Peek.Text + " JOIN")} is not supported; join a reference table with [INNER] JOIN or LEFT [OUTER] JOIN ... ON.");
        var at = Peek;
        var left = false;
        if (Accept("LEFT"))
        {
            left = true;
            Accept("OUTER");
        }
        else if (!Accept("INNER") && !Peek.Is("JOIN"))
        {
            return null;
        }
        Expect("JOIN");
        if (Peek.IsSymbol("(") || Peek.Is("TABLE"))
            throw Error("Subqueries and table functions in a JOIN are not supported; join a reference table.");
        var (table, tableAt) = Identifier("a reference table name");
        if (Peek.Is("OVER"))
            throw Error("Stream-to-stream joins (JOIN ... OVER) are not supported; join a reference table.");
        string? alias = null;
        if (Accept("AS"))
            alias = Identifier("an alias").Name;
        else if (Peek.Kind == TokenKind.QuotedIdentifier || (Peek.Kind == TokenKind.Identifier && !Reserved.Contains(Peek.Text)))
            alias = Identifier("an alias").Name;
        if (Peek.Is("USING"))
            throw Error("JOIN ... USING is not supported; write the condition with ON.");
        Expect("ON");
        return new JoinClause(at, table, tableAt, alias, left, ParseExpr());
    }

    /// <summary>
    /// <c>( [PARTITION BY e, ...] RANGE INTERVAL 'n' unit [PRECEDING] | ROWS n PRECEDING )</c>. PRECEDING is required
    /// for sliding windows and absent in a stagger window.
    /// </summary>
    private WindowSpec ParseWindowSpec(Token at, bool rowsAllowed)
    {
        ExpectSymbol("(");
        var partition = new List<Expr>();
        if (Accept("PARTITION"))
        {
            Expect("BY");
            do
                partition.Add(ParseExpr());
            while (AcceptSymbol(","));
        }
        if (Peek.Is("ORDER"))
            throw Error("ORDER BY in a window is not supported; sliding windows are ordered by ROWTIME.");
        TimeSpan? range = null;
        int? rows = null;
        if (Accept("RANGE"))
        {
            var intervalAt = Peek;
            if (!Accept("INTERVAL"))
                throw Error($"Expected RANGE INTERVAL 'n' unit but found {Peek}.");
            range = ParseIntervalBody(intervalAt);
            if (range <= TimeSpan.Zero)
                throw Error("A window's range must be positive.", intervalAt);
        }
        else if (rowsAllowed && Peek.Is("ROWS"))
        {
            _pos++;
            var n = Next();
            if (n.Kind != TokenKind.Number || !int.TryParse(n.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > 100_000)
                throw Error($"Expected a row count (0 to 100000) after ROWS but found {n}.", n);
            rows = count;
        }
        else
        {
            throw Error(rowsAllowed
                ? $"Expected RANGE INTERVAL 'n' unit PRECEDING or ROWS n PRECEDING but found {Peek}."
                : $"Expected RANGE INTERVAL 'n' unit but found {Peek}.");
        }
        if (rowsAllowed)
            Expect("PRECEDING");
        ExpectSymbol(")");
        return new WindowSpec(at, partition, range, rows);
    }

    internal Expr ParseExpr() => ParseOr();

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Peek.Is("OR"))
        {
            var at = Next();
            left = new BinaryExpr(at, "OR", left, ParseAnd());
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Peek.Is("AND"))
        {
            var at = Next();
            left = new BinaryExpr(at, "AND", left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Peek.Is("NOT"))
        {
            var at = Next();
            return new UnaryExpr(at, "NOT", ParseNot());
        }
        return ParseComparison();
    }

    private Expr ParseComparison()
    {
        var left = ParseAdditive();
        while (true)
        {
            var t = Peek;
            if (t.Kind == TokenKind.Symbol && t.Text is "=" or "<>" or "!=" or "<" or "<=" or ">" or ">=")
            {
                _pos++;
                left = new BinaryExpr(t, t.Text == "!=" ? "<>" : t.Text, left, ParseAdditive());
                continue;
            }
            if (t.Is("IS"))
            {
                _pos++;
                var negated = Accept("NOT");
                Expect("NULL");
                left = new IsNullExpr(t, left, negated);
                continue;
            }
            var not = t.Is("NOT") && (PeekAt(1).Is("LIKE") || PeekAt(1).Is("SIMILAR") || PeekAt(1).Is("BETWEEN") || PeekAt(1).Is("IN"));
            if (not)
                _pos++;
            if (Accept("LIKE"))
            {
                left = new LikeExpr(t, left, ParseAdditive(), not);
            }
            else if (Accept("SIMILAR"))
            {
                Expect("TO");
                left = new LikeExpr(t, left, ParseAdditive(), not);
            }
            else if (Accept("BETWEEN"))
            {
                var low = ParseAdditive();
                Expect("AND");
                left = new BetweenExpr(t, left, low, ParseAdditive(), not);
            }
            else if (Accept("IN"))
            {
                ExpectSymbol("(");
                var items = new List<Expr>();
                do
                    items.Add(ParseExpr());
                while (AcceptSymbol(","));
                ExpectSymbol(")");
                left = new InExpr(t, left, items, not);
            }
            else
            {
                return left;
            }
        }
    }

    private Expr ParseAdditive()
    {
        var left = ParseMultiplicative();
        while (Peek.Kind == TokenKind.Symbol && Peek.Text is "+" or "-" or "||")
        {
            var t = Next();
            left = new BinaryExpr(t, t.Text, left, ParseMultiplicative());
        }
        return left;
    }

    private Expr ParseMultiplicative()
    {
        var left = ParseUnary();
        while (Peek.Kind == TokenKind.Symbol && Peek.Text is "*" or "/" or "%")
        {
            var t = Next();
            left = new BinaryExpr(t, t.Text, left, ParseUnary());
        }
        return left;
    }

    private Expr ParseUnary()
    {
        if (Peek.IsSymbol("-") || Peek.IsSymbol("+"))
        {
            var t = Next();
            var operand = ParseUnary();
            return t.Text == "+" ? operand : new UnaryExpr(t, "-", operand);
        }
        return ParsePrimary();
    }

    private Expr ParsePrimary()
    {
        var t = Peek;
        switch (t.Kind)
        {
            case TokenKind.Number:
                _pos++;
                if (t.Text.Contains('.') || t.Text.Contains('e') || t.Text.Contains('E'))
                    return new LiteralExpr(t, double.Parse(t.Text, CultureInfo.InvariantCulture));
                return long.TryParse(t.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var l)
                    ? new LiteralExpr(t, l)
                    : throw Error($"Number {t.Text} is out of range.", t);
            case TokenKind.String:
                _pos++;
                return new LiteralExpr(t, t.Text);
            case TokenKind.Symbol when t.Text == "(":
            {
                _pos++;
                var inner = ParseExpr();
                ExpectSymbol(")");
                return inner;
            }
            case TokenKind.QuotedIdentifier:
                return ParseColumn();
            case TokenKind.Identifier:
                break;
            default:
                throw Error($"Expected an expression but found {t}.");
        }
        switch (t.Text)
        {
            case "NULL":
                _pos++;
                return new LiteralExpr(t, null);
            case "TRUE" or "FALSE":
                _pos++;
                return new LiteralExpr(t, t.Text == "TRUE");
            case "INTERVAL":
                _pos++;
                return new LiteralExpr(t, ParseIntervalBody(t));
            case "TIMESTAMP" when PeekAt(1).Kind == TokenKind.String:
            {
                _pos++;
                var s = Next();
                return Values.ParseTimestamp(s.Text) is { } ts ? new LiteralExpr(t, ts) : throw Error($"'{s.Text}' is not a timestamp.", s);
            }
            case "CAST":
            {
                _pos++;
                ExpectSymbol("(");
                var value = ParseExpr();
                Expect("AS");
                var (kind, _) = ParseType();
                ExpectSymbol(")");
                return new CastExpr(t, value, kind);
            }
            case "CASE":
                return ParseCase();
            case "STEP" when PeekAt(1).IsSymbol("("):
            {
                _pos += 2;
                var value = ParseExpr();
                Expect("BY");
                var intervalAt = Expect("INTERVAL");
                var width = ParseIntervalBody(intervalAt);
                ExpectSymbol(")");
                if (width <= TimeSpan.Zero)
                    throw Error("STEP needs a positive interval.", intervalAt);
                return new StepExpr(t, value, width);
            }
            case "FLOOR" or "CEIL" or "CEILING" when PeekAt(1).IsSymbol("("):
            {
                _pos += 2;
                var value = ParseExpr();
                if (Accept("TO"))
                {
                    var unit = Next();
                    if (unit.Kind != TokenKind.Identifier || Values.UnitLength(unit.Text) is null)
                        throw Error($"Expected a time unit (SECOND, MINUTE, HOUR, DAY) but found {unit}.", unit);
                    ExpectSymbol(")");
                    return new TruncateExpr(t, value, unit.Text, t.Text != "FLOOR");
                }
                ExpectSymbol(")");
                return new CallExpr(t, t.Text == "CEILING" ? "CEIL" : t.Text, [value], false);
            }
        }
        if (PeekAt(1).IsSymbol("("))
        {
            _pos += 2;
            var args = new List<Expr>();
            var star = false;
            var distinct = false;
            if (AcceptSymbol("*"))
            {
                star = true;
            }
            else if (!Peek.IsSymbol(")"))
            {
                distinct = Accept("DISTINCT");
                if (!distinct)
                    Accept("ALL");
                do
                    args.Add(ParseExpr());
                while (AcceptSymbol(","));
            }
            ExpectSymbol(")");
            var call = new CallExpr(t, t.Text, args, star) { Distinct = distinct };
            if (Peek.Is("OVER"))
            {
                var overAt = Next();
                call.OverAt = overAt;
                if (Peek.IsSymbol("("))
                    call.Over = ParseWindowSpec(overAt, rowsAllowed: true);
                else
                    call.OverName = Identifier("a window name or '('").Name;
            }
            return call;
        }
        if (t.Text is "CURRENT_ROW_TIMESTAMP" or "CURRENT_TIMESTAMP" or "LOCALTIMESTAMP")
        {
            _pos++;
            return new CallExpr(t, t.Text, [], false);
        }
        return ParseColumn();
    }

    private Expr ParseColumn()
    {
        var (first, at) = Identifier("a column name");
        if (!AcceptSymbol("."))
            return new ColumnExpr(at, null, first);
        var second = Peek;
        if (second.Kind is TokenKind.Identifier or TokenKind.QuotedIdentifier)
        {
            _pos++;
            return new ColumnExpr(at, first, second.Text);
        }
        throw Error($"Expected a column name after '.' but found {second}.");
    }

    private CaseExpr ParseCase()
    {
        var at = Expect("CASE");
        Expr? operand = Peek.Is("WHEN") ? null : ParseExpr();
        var whens = new List<(Expr, Expr)>();
        while (Accept("WHEN"))
        {
            var when = ParseExpr();
            Expect("THEN");
            whens.Add((when, ParseExpr()));
        }
        if (whens.Count == 0)
            throw Error("CASE needs at least one WHEN.");
        var otherwise = Accept("ELSE") ? ParseExpr() : null;
        Expect("END");
        return new CaseExpr(at, operand, whens, otherwise);
    }

    /// <summary>The part after INTERVAL: 'n' SECOND | MINUTE | HOUR | DAY (plural forms accepted).</summary>
    private TimeSpan ParseIntervalBody(Token at)
    {
        var amount = Next();
        if (amount.Kind is not (TokenKind.String or TokenKind.Number)
            || !double.TryParse(amount.Text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            throw Error($"Expected the interval's amount as a quoted number but found {amount}.", amount);
        var unit = Next();
        if (unit.Kind != TokenKind.Identifier || Values.UnitLength(unit.Text) is not { } length)
            throw Error($"Expected an interval unit (SECOND, MINUTE, HOUR, DAY) but found {unit}.", unit);
        _ = at;
        return length * n;
    }
}
