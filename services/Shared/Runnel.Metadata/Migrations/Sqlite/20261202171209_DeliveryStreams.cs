using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class DeliveryStreams : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "delivery_streams",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Name = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Type = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    Status = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    SourceStreamArn = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    SourceRoleArn = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    SourceStreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    DestinationConfig = table.Column<string>(type: "TEXT", nullable: false),
                    DestinationId = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    VersionId = table.Column<long>(type: "INTEGER", nullable: false),
                    EncryptionStatus = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    EncryptionKeyType = table.Column<string>(type: "TEXT", maxLength: 32, nullable: true),
                    EncryptionKeyArn = table.Column<string>(type: "TEXT", maxLength: 512, nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    LastUpdatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_delivery_streams", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "delivery_stream_tags",
                columns: table => new
                {
                    DeliveryStreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    Key = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Value = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_delivery_stream_tags", x => new { x.DeliveryStreamId, x.Key });
                    table.ForeignKey(
                        name: "FK_delivery_stream_tags_delivery_streams_DeliveryStreamId",
                        column: x => x.DeliveryStreamId,
                        principalTable: "delivery_streams",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_delivery_streams_Name",
                table: "delivery_streams",
                column: "Name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_delivery_streams_SourceStreamId",
                table: "delivery_streams",
                column: "SourceStreamId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "delivery_stream_tags");

            migrationBuilder.DropTable(
                name: "delivery_streams");
        }
    }
}
