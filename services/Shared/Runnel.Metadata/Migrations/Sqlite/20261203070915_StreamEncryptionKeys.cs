using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class StreamEncryptionKeys : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "stream_data_keys",
                columns: table => new
                {
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    KeyId = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    WrappedKey = table.Column<byte[]>(type: "BLOB", maxLength: 60, nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_stream_data_keys", x => new { x.StreamId, x.Version });
                    table.ForeignKey(
                        name: "FK_stream_data_keys_streams_StreamId",
                        column: x => x.StreamId,
                        principalTable: "streams",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "stream_data_keys");
        }
    }
}
