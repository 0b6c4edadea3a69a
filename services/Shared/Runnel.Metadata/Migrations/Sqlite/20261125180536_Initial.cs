using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Runnel.Metadata.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "access_keys",
                columns: table => new
                {
                    AccessKeyId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    SecretAccessKey = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    Description = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: true),
                    Enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_access_keys", x => x.AccessKeyId);
                });

            migrationBuilder.CreateTable(
                name: "audit_entries",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    At = table.Column<long>(type: "INTEGER", nullable: false),
                    Principal = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    Operation = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Resource = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: true),
                    Outcome = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Details = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_audit_entries", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "leases",
                columns: table => new
                {
                    ApplicationName = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    ShardIndex = table.Column<int>(type: "INTEGER", nullable: false),
                    Checkpoint = table.Column<string>(type: "TEXT", maxLength: 129, nullable: true),
                    LeaseOwner = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    LeaseCounter = table.Column<long>(type: "INTEGER", nullable: false),
                    LeaseExpiresAt = table.Column<long>(type: "INTEGER", nullable: true),
                    ParentShardIndexes = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_leases", x => new { x.ApplicationName, x.StreamId, x.ShardIndex });
                });

            migrationBuilder.CreateTable(
                name: "shard_placements",
                columns: table => new
                {
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    ShardIndex = table.Column<int>(type: "INTEGER", nullable: false),
                    NodeId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Epoch = table.Column<long>(type: "INTEGER", nullable: false),
                    AssignedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_shard_placements", x => new { x.StreamId, x.ShardIndex });
                });

            migrationBuilder.CreateTable(
                name: "store_nodes",
                columns: table => new
                {
                    NodeId = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Address = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    RegisteredAt = table.Column<long>(type: "INTEGER", nullable: false),
                    LastHeartbeatAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_store_nodes", x => x.NodeId);
                });

            migrationBuilder.CreateTable(
                name: "streams",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    Mode = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    RetentionHours = table.Column<int>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    EncryptionType = table.Column<string>(type: "TEXT", maxLength: 8, nullable: false),
                    KeyId = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: true),
                    MaxRecordSizeKiB = table.Column<int>(type: "INTEGER", nullable: false),
                    NextShardIndex = table.Column<int>(type: "INTEGER", nullable: false),
                    Version = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_streams", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "shards",
                columns: table => new
                {
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    ShardIndex = table.Column<int>(type: "INTEGER", nullable: false),
                    HashKeyStart = table.Column<string>(type: "TEXT", unicode: false, maxLength: 39, nullable: false),
                    HashKeyEnd = table.Column<string>(type: "TEXT", unicode: false, maxLength: 39, nullable: false),
                    ParentShardIndex = table.Column<int>(type: "INTEGER", nullable: true),
                    AdjacentParentShardIndex = table.Column<int>(type: "INTEGER", nullable: true),
                    StartingSequenceNumber = table.Column<string>(type: "TEXT", maxLength: 129, nullable: false),
                    EndingSequenceNumber = table.Column<string>(type: "TEXT", maxLength: 129, nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    ClosedAt = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_shards", x => new { x.StreamId, x.ShardIndex });
                    table.ForeignKey(
                        name: "FK_shards_streams_StreamId",
                        column: x => x.StreamId,
                        principalTable: "streams",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "stream_consumers",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Arn = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    Status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_stream_consumers", x => x.Id);
                    table.ForeignKey(
                        name: "FK_stream_consumers_streams_StreamId",
                        column: x => x.StreamId,
                        principalTable: "streams",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "stream_tags",
                columns: table => new
                {
                    StreamId = table.Column<long>(type: "INTEGER", nullable: false),
                    Key = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Value = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_stream_tags", x => new { x.StreamId, x.Key });
                    table.ForeignKey(
                        name: "FK_stream_tags_streams_StreamId",
                        column: x => x.StreamId,
                        principalTable: "streams",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_audit_entries_At",
                table: "audit_entries",
                column: "At");

            migrationBuilder.CreateIndex(
                name: "IX_shard_placements_NodeId",
                table: "shard_placements",
                column: "NodeId");

            migrationBuilder.CreateIndex(
                name: "IX_stream_consumers_StreamId_Name",
                table: "stream_consumers",
                columns: new[] { "StreamId", "Name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_streams_Name",
                table: "streams",
                column: "Name",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "access_keys");

            migrationBuilder.DropTable(
                name: "audit_entries");

            migrationBuilder.DropTable(
                name: "leases");

            migrationBuilder.DropTable(
                name: "shard_placements");

            migrationBuilder.DropTable(
                name: "shards");

            migrationBuilder.DropTable(
                name: "store_nodes");

            migrationBuilder.DropTable(
                name: "stream_consumers");

            migrationBuilder.DropTable(
                name: "stream_tags");

            migrationBuilder.DropTable(
                name: "streams");
        }
    }
}
