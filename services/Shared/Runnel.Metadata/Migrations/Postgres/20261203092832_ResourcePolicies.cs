using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ResourcePolicies : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "resource_policies",
                columns: table => new
                {
                    ResourceArn = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: false),
                    StreamId = table.Column<long>(type: "bigint", nullable: false),
                    ConsumerId = table.Column<long>(type: "bigint", nullable: true),
                    Document = table.Column<string>(type: "character varying(20480)", maxLength: 20480, nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_resource_policies", x => x.ResourceArn);
                    table.ForeignKey(
                        name: "FK_resource_policies_stream_consumers_ConsumerId",
                        column: x => x.ConsumerId,
                        principalTable: "stream_consumers",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_resource_policies_streams_StreamId",
                        column: x => x.StreamId,
                        principalTable: "streams",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_resource_policies_ConsumerId",
                table: "resource_policies",
                column: "ConsumerId");

            migrationBuilder.CreateIndex(
                name: "IX_resource_policies_StreamId",
                table: "resource_policies",
                column: "StreamId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "resource_policies");
        }
    }
}
