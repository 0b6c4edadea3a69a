using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Runnel.Metadata.Migrations.Postgres
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
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    Name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Type = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Status = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    SourceStreamArn = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: true),
                    SourceRoleArn = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: true),
                    SourceStreamId = table.Column<long>(type: "bigint", nullable: false),
                    DestinationConfig = table.Column<string>(type: "text", nullable: false),
                    DestinationId = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    VersionId = table.Column<long>(type: "bigint", nullable: false),
                    EncryptionStatus = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    EncryptionKeyType = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: true),
                    EncryptionKeyArn = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    LastUpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_delivery_streams", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "delivery_stream_tags",
                columns: table => new
                {
                    DeliveryStreamId = table.Column<long>(type: "bigint", nullable: false),
                    Key = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    Value = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false)
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
