using System.Text;

namespace Runnel.Analytics.Sql;

internal enum TokenKind
{
    Identifier,
    QuotedIdentifier,
    String,
    Number,
    Symbol,
    End,
}

/// <summary>Unquoted identifiers and keywords arrive upper-cased (SQL folds them); quoted ones keep their case.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column)
{
    public bool Is(string keyword) => Kind == TokenKind.Identifier && Text == keyword;

    public bool IsSymbol(string symbol) => Kind == TokenKind.Symbol && Text == symbol;

    public override string ToString() => Kind switch
    {
        TokenKind.End => "end of code",
        TokenKind.String => $"'{Text}'",
        TokenKind.QuotedIdentifier => $"\"{Text}\"",
        _ => $"'{Text}'",
    };
}

internal static class Lexer
{
    private static readonly string[] TwoCharSymbols = ["<>", "!=", "<=", ">=", "||"];

    public static List<Token> Tokenize(string code)
    {
        var tokens = new List<Token>();
        int i = 0, line = 1, lineStart = 0;
        while (true)
        {
            // Whitespace and comments (-- to end of line, /* ... */).
            while (i < code.Length)
            {
                var c = code[i];
                if (c == '\n')
                {
                    line++;
                    lineStart = ++i;
                }
                else if (char.IsWhiteSpace(c))
                {
                    i++;
                }
                else if (c == '-' && i + 1 < code.Length && code[i + 1] == '-')
                {
                    while (i < code.Length && code[i] != '\n')
                        i++;
                }
                else if (c == '/' && i + 1 < code.Length && code[i + 1] == '*')
                {
                    var (l, col) = (line, i - lineStart + 1);
                    i += 2;
                    while (i < code.Length && !(code[i] == '*' && i + 1 < code.Length && code[i + 1] == '/'))
                    {
                        if (code[i] == '\n')
                        {
                            line++;
                            lineStart = i + 1;
                        }
                        i++;
                    }
                    if (i >= code.Length)
                        throw new SqlException(l, col, "Unterminated comment.");
                    i += 2;
                }
                else
                {
                    break;
                }
            }
            var column = i - lineStart + 1;
            if (i >= code.Length)
            {
                tokens.Add(new Token(TokenKind.End, "", line, column));
                return tokens;
            }
            var ch = code[i];
            if (char.IsLetter(ch) || ch == '_' || ch == '$')
            {
                var start = i;
                while (i < code.Length && (char.IsLetterOrDigit(code[i]) || code[i] is '_' or '$'))
                    i++;
                tokens.Add(new Token(TokenKind.Identifier, code[start..i].ToUpperInvariant(), line, column));
            }
            else if (char.IsDigit(ch) || (ch == '.' && i + 1 < code.Length && char.IsDigit(code[i + 1])))
            {
                var start = i;
                while (i < code.Length && (char.IsDigit(code[i]) || code[i] == '.'))
                    i++;
                if (i < code.Length && code[i] is 'e' or 'E')
                {
                    i++;
                    if (i < code.Length && code[i] is '+' or '-')
                        i++;
                    while (i < code.Length && char.IsDigit(code[i]))
                        i++;
                }
                tokens.Add(new Token(TokenKind.Number, code[start..i], line, column));
            }
            else if (ch is '\'' or '"')
            {
                var text = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= code.Length)
                        throw new SqlException(line, column, ch == '\'' ? "Unterminated string literal." : "Unterminated quoted identifier.");
                    if (code[i] == ch)
                    {
                        // A doubled quote stands for one quote character.
                        if (i + 1 < code.Length && code[i + 1] == ch)
                        {
                            text.Append(ch);
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (code[i] == '\n')
                    {
                        line++;
                        lineStart = i + 1;
                    }
                    text.Append(code[i++]);
                }
                tokens.Add(new Token(ch == '\'' ? TokenKind.String : TokenKind.QuotedIdentifier, text.ToString(), line, column));
            }
            else
            {
                var two = i + 1 < code.Length ? code.Substring(i, 2) : null;
                if (two is not null && TwoCharSymbols.Contains(two))
                {
                    tokens.Add(new Token(TokenKind.Symbol, two, line, column));
                    i += 2;
                }
                else if ("(),.;*+-/%=<>".Contains(ch))
                {
                    tokens.Add(new Token(TokenKind.Symbol, ch.ToString(), line, column));
                    i++;
                }
                else
                {
                    throw new SqlException(line, column, $"Unexpected character '{ch}'.");
                }
            }
        }
    }
}
